"""Sources in storage: the feeds, their claims by pollers, what each poll recorded, and the
sources file the database was synced from.

Sources are never deleted: a source that leaves the sources file, is removed by an admin or is
gone (410) is disabled with its reason (see `news.feeds.sources`), and its stories stay until
retention removes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, func, insert, or_, select, update

from news.feeds import plan_sync
from news.model import PollRecord, Source, SourcesPlan
from storage.base import (
    SOURCES_SYNC_LOCK,
    StorageBase,
    chunks,
    read_state,
    source_from_row,
    sources_from_rows,
    take_turns,
    write_state,
)
from storage.tables import Seconds, UTCDateTime, source_counts, sources

# Every source with its story count, by id.
_SOURCES = (
    select(sources, func.coalesce(source_counts.c.stories, 0).label("stories_count"))
    .outerjoin(source_counts, source_counts.c.source_id == sources.c.id)
    .order_by(sources.c.id)
)
_SOURCES_FILE = "sources_file"

# What a poll writes to its source's row, success or failure; a None parameter keeps the
# column's value.
_POLLED_AT = bindparam("b_now", type_=UTCDateTime())
_RECORD = (
    update(sources)
    .where(sources.c.id == bindparam("b_id"))
    .values(last_polled_at=_POLLED_AT, next_poll_at=bindparam("b_next", type_=UTCDateTime()))
)
_RECORD_SUCCESS = _RECORD.values(
    last_success_at=_POLLED_AT,
    error_count=0,
    last_error=None,
    last_error_kind=None,
    # A new failing streak is reported anew (`claim_failing_reports`).
    failure_reported_at=None,
    etag=bindparam("b_etag", type_=String()),
    last_modified=bindparam("b_last_modified", type_=String()),
    title=func.coalesce(bindparam("b_title", type_=String()), sources.c.title),
    content_hash=func.coalesce(bindparam("b_hash", type_=String()), sources.c.content_hash),
    poll_interval=func.coalesce(bindparam("b_poll", type_=Seconds()), sources.c.poll_interval),
    target_interval=func.coalesce(
        bindparam("b_target", type_=Seconds()), sources.c.target_interval
    ),
)
_RECORD_FAILURE = _RECORD.values(
    last_error=bindparam("b_error", type_=String()),
    last_error_kind=bindparam("b_kind", type_=String()),
    last_error_at=_POLLED_AT,
    error_count=sources.c.error_count + 1,
)
# A source enabled again is due at once, its errors forgotten.
_ENABLED = {"enabled": True, "disabled_reason": None, "error_count": 0}


def _new_source(url: str, origin: str, now: datetime) -> dict[str, Any]:
    """A new source's row: enabled and due at once."""
    return {"url": url, "origin": origin, "created_at": now, "next_poll_at": now, **_ENABLED}


class SourceStore(StorageBase):
    """The sources part of `SqlStorage`."""

    async def sync_sources(
        self, urls: Sequence[str], *, now: datetime, file: str | None = None
    ) -> SourcesPlan:
        """Make the file-listed sources `urls` and say what changed; never deletes a story.

        A file source no longer listed is disabled ("unlisted") with its stories kept; listed
        again, it is enabled with its history. Sources users added stay untouched. `file`
        names the sources file, remembered as the one the database was synced from.
        """
        async with self.begin() as conn:
            # Pollers starting together sync the same file one after the other, not into
            # each other's inserts.
            await take_turns(conn, SOURCES_SYNC_LOCK)
            plan = plan_sync(urls, sources_from_rows(await conn.execute(_SOURCES)))
            for chunk in chunks(plan.unlisted):
                await conn.execute(
                    update(sources)
                    .where(sources.c.url.in_(chunk))
                    .values(enabled=False, disabled_reason="unlisted")
                )
            for chunk in chunks(plan.restored):
                await conn.execute(
                    update(sources)
                    .where(sources.c.url.in_(chunk))
                    .values(**_ENABLED, next_poll_at=now)
                )
            if plan.added:
                await conn.execute(
                    insert(sources), [_new_source(url, "file", now) for url in plan.added]
                )
            if file is not None:
                await write_state(conn, _SOURCES_FILE, file)
        return plan

    async def sources_file(self) -> str | None:
        """The sources file the database was last synced from; None before the first sync."""
        async with self.connect() as conn:
            return await read_state(conn, _SOURCES_FILE)

    async def add_source(self, url: str, *, now: datetime, origin: str = "user") -> Source:
        """Add a source, or enable a known one again (due at once) with its stories."""
        async with self.begin() as conn:
            row = (await conn.execute(select(sources).where(sources.c.url == url))).first()
            if row is None:
                await conn.execute(insert(sources).values(**_new_source(url, origin, now)))
            elif not row.enabled:
                await conn.execute(
                    update(sources)
                    .where(sources.c.id == row.id)
                    .values(**_ENABLED, next_poll_at=now)
                )
            return source_from_row((await conn.execute(_SOURCES.where(sources.c.url == url))).one())

    async def remove_source(self, url: str) -> Source | None:
        """Stop polling a source ("removed"); its stories stay until retention removes them.

        Returns the source as it is now, or None when no source has `url`.
        """
        async with self.begin() as conn:
            await conn.execute(
                update(sources)
                .where(sources.c.url == url)
                .values(enabled=False, disabled_reason="removed")
            )
            row = (await conn.execute(_SOURCES.where(sources.c.url == url))).first()
            return None if row is None else source_from_row(row)

    async def list_sources(self) -> list[Source]:
        """Every source with its story count (a counter, not a count of the archive)."""
        async with self.connect() as conn:
            return sources_from_rows(await conn.execute(_SOURCES))

    async def claim_due_sources(
        self, now: datetime, *, lease_until: datetime, limit: int = 1000
    ) -> list[Source]:
        """Claim up to `limit` due sources for one poller: their next poll moves to `lease_until`.

        One statement, `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`, so
        pollers sharing a PostgreSQL database never claim the same source for the same due time
        (SQLite has one writer at a time, which gives the same). The lease is what a crashed
        poller leaves behind: the source is due again when it ends.
        """
        due = (
            select(sources.c.id)
            .where(
                sources.c.enabled,
                or_(sources.c.next_poll_at.is_(None), sources.c.next_poll_at <= now),
            )
            .order_by(sources.c.next_poll_at, sources.c.id)
            .limit(limit)
        )
        return await self._claim_sources(due, next_poll_at=lease_until)

    async def record_outcomes(self, records: Sequence[PollRecord]) -> None:
        """Write what many polls did, in one transaction: a tick's sources in one go.

        Each kind of outcome is one executemany `UPDATE`, so a thousand 304s cost one statement
        rather than a thousand transactions.
        """
        if not records:
            return
        successes = [
            {
                "b_id": record.source_id,
                "b_now": record.now,
                "b_next": record.next_poll_at,
                "b_etag": record.etag,
                "b_last_modified": record.last_modified,
                "b_title": record.title[:500] if record.title else None,
                "b_hash": record.content_hash or None,
                "b_poll": record.poll_interval,
                "b_target": record.target_interval,
            }
            for record in records
            if record.error_kind is None
        ]
        failures = [
            {
                "b_id": record.source_id,
                "b_now": record.now,
                "b_next": record.next_poll_at,
                "b_error": self.error_text(record.error),
                "b_kind": record.error_kind[:50],
            }
            for record in records
            if record.error_kind is not None
        ]
        moved = [record for record in records if record.error_kind is None and record.url]
        gone = [record.source_id for record in records if record.error_kind and record.disable]
        async with self.begin() as conn:
            if successes:
                await conn.execute(_RECORD_SUCCESS, successes)
            if failures:
                await conn.execute(_RECORD_FAILURE, failures)
            if gone:
                await conn.execute(
                    update(sources)
                    .where(sources.c.id.in_(gone))
                    .values(enabled=False, disabled_reason="gone")
                )
            for record in moved:
                assert record.url is not None
                taken = await conn.execute(
                    select(sources.c.id).where(
                        sources.c.url == record.url, sources.c.id != record.source_id
                    )
                )
                if taken.first() is None:
                    await conn.execute(
                        update(sources)
                        .where(sources.c.id == record.source_id)
                        .values(url=record.url[:2048])
                    )

    async def claim_failing_reports(
        self, *, failing_before: datetime, now: datetime
    ) -> list[Source]:
        """The sources failing since before `failing_before` that no one reported yet; each is
        marked reported in the same statement, so several senders report it once in all.

        Marked before it is reported: a sender that dies in between loses that report rather
        than a restart sending it twice.
        """
        unreported = and_(
            sources.c.enabled,
            sources.c.error_count > 0,
            sources.c.failure_reported_at.is_(None),
            or_(
                sources.c.last_success_at <= failing_before,
                and_(sources.c.last_success_at.is_(None), sources.c.created_at <= failing_before),
            ),
        )
        probe = select(sources.c.id).where(unreported).limit(1)
        async with self.connect() as conn:
            if (await conn.execute(probe)).first() is None:
                return []  # the usual answer, without a write transaction
        return await self._claim_sources(
            select(sources.c.id).where(unreported), failure_reported_at=now
        )

    async def _claim_sources(self, chosen: Select[tuple[int]], **values: Any) -> list[Source]:
        """Set `values` on the sources whose ids `chosen` selects, in one statement, and return
        them by id. On PostgreSQL the rows another transaction is claiming are skipped, so two
        processes never claim one source (SQLite has one writer at a time, which gives the
        same)."""
        if self.dialect == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        claim = (
            update(sources)
            .where(sources.c.id.in_(chosen.scalar_subquery()))
            .values(**values)
            .returning(*sources.c)
        )
        async with self.begin() as conn:
            rows = (await conn.execute(claim)).all()
        return sorted((source_from_row(row) for row in rows), key=lambda source: source.id)
