"""`SqlStorage`: the `news.ports.Storage` interface on SQLAlchemy's asyncio API.

Each public method is one transaction and returns domain types. Full-text search, the one part
that differs by dialect, lives in `storage.search`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    String,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from news.model import Source, Story, StoryDraft
from news.ports import PollRecord
from news.sources import SourcesPlan, plan_sync
from news.topics import Topic
from storage.clusters import ClusterStore
from storage.operations import Operations
from storage.outbox import ChatsAndOutbox
from storage.retention import Retention
from storage.rows import (
    SOURCES_SYNC_LOCK,
    STORY_COLUMNS,
    chunks,
    error_text,
    source_name,
    story_from_row,
    take_turns,
)
from storage.search import newest_first, topic_clause, topic_sources
from storage.tables import UTCDateTime, bot_state, source_counts, sources, stories


def _source(row: Row[Any], stories_count: int = 0) -> Source:
    return Source(
        id=row.id,
        url=row.url,
        title=row.title,
        etag=row.etag,
        last_modified=row.last_modified,
        content_hash=row.content_hash,
        last_polled_at=row.last_polled_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_kind=row.last_error_kind,
        error_count=row.error_count,
        next_poll_at=row.next_poll_at,
        enabled=row.enabled,
        stories_count=stories_count,
        origin=row.origin,
        last_error_at=row.last_error_at,
        poll_interval=_seconds(row.poll_interval),
        target_interval=_seconds(row.target_interval),
        disabled_reason=row.disabled_reason,
    )


def _seconds(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _whole_seconds(value: timedelta | None) -> int | None:
    return None if value is None else round(value.total_seconds())


# Every source with its story count, by id.
_SOURCES = (
    select(sources, func.coalesce(source_counts.c.stories, 0).label("stories_count"))
    .outerjoin(source_counts, source_counts.c.source_id == sources.c.id)
    .order_by(sources.c.id)
)
_SOURCES_FILE = "sources_file"


async def _put_state(conn: AsyncConnection, key: str, value: str) -> None:
    updated = await conn.execute(
        sql_update(bot_state).where(bot_state.c.key == key).values(value=value)
    )
    if not updated.rowcount:
        await conn.execute(insert(bot_state).values(key=key, value=value))


_POLLED_AT = bindparam("b_now", type_=UTCDateTime())
_NEXT_POLL_AT = bindparam("b_next", type_=UTCDateTime())
# What a poll writes to its source's row; a None parameter keeps the column's value.
_RECORD_SUCCESS = (
    sql_update(sources)
    .where(sources.c.id == bindparam("b_id"))
    .values(
        last_polled_at=_POLLED_AT,
        last_success_at=_POLLED_AT,
        next_poll_at=_NEXT_POLL_AT,
        error_count=0,
        last_error=None,
        last_error_kind=None,
        failure_reported_at=None,
        etag=bindparam("b_etag", type_=String()),
        last_modified=bindparam("b_last_modified", type_=String()),
        title=func.coalesce(bindparam("b_title", type_=String()), sources.c.title),
        content_hash=func.coalesce(bindparam("b_hash", type_=String()), sources.c.content_hash),
        poll_interval=func.coalesce(bindparam("b_poll", type_=Integer()), sources.c.poll_interval),
        target_interval=func.coalesce(
            bindparam("b_target", type_=Integer()), sources.c.target_interval
        ),
    )
)
_RECORD_FAILURE = (
    sql_update(sources)
    .where(sources.c.id == bindparam("b_id"))
    .values(
        last_polled_at=_POLLED_AT,
        next_poll_at=_NEXT_POLL_AT,
        last_error=bindparam("b_error", type_=String()),
        last_error_kind=bindparam("b_kind", type_=String()),
        last_error_at=_POLLED_AT,
        error_count=sources.c.error_count + 1,
    )
)


class SqlStorage(ChatsAndOutbox, ClusterStore, Retention, Operations):
    """Newsbot's storage on one SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.secrets: tuple[str, ...] = ()

    def never_store(self, secret: str) -> None:
        """Mask `secret` (the bot token) in every error text written from now on."""
        if secret and secret not in self.secrets:
            self.secrets = (*self.secrets, secret)

    async def close(self) -> None:
        await self.engine.dispose()

    # Sources ---------------------------------------------------------------------------------

    async def sync_sources(
        self, urls: Sequence[str], *, now: datetime, file: str | None = None
    ) -> SourcesPlan:
        """Make the file-listed sources `urls` and say what changed; never deletes a story.

        A file source no longer listed is disabled ("unlisted") with its stories kept; listed
        again, it is enabled with its history. Sources users added stay untouched. `file`
        names the sources file, remembered as the one the database was synced from.
        """
        async with self.engine.begin() as conn:
            # Pollers starting together sync the same file one after the other, not into
            # each other's inserts.
            await take_turns(conn, SOURCES_SYNC_LOCK)
            plan = plan_sync(
                urls, [_source(row, row.stories_count) for row in await conn.execute(_SOURCES)]
            )
            if plan.unlisted:
                for chunk in chunks(plan.unlisted, 500):
                    await conn.execute(
                        sql_update(sources)
                        .where(sources.c.url.in_(chunk))
                        .values(enabled=False, disabled_reason="unlisted")
                    )
            for chunk in chunks(plan.restored, 500):
                await conn.execute(
                    sql_update(sources)
                    .where(sources.c.url.in_(chunk))
                    .values(enabled=True, disabled_reason=None, next_poll_at=now, error_count=0)
                )
            if plan.added:
                await conn.execute(
                    insert(sources), [self._new_source(url, "file", now) for url in plan.added]
                )
            if file is not None:
                await _put_state(conn, _SOURCES_FILE, file)
        return plan

    async def sources_file(self) -> str | None:
        """The sources file the database was last synced from; None before the first sync."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(bot_state.c.value).where(bot_state.c.key == _SOURCES_FILE)
                )
            ).scalar()

    @staticmethod
    def _new_source(url: str, origin: str, now: datetime) -> dict[str, Any]:
        return {
            "url": url,
            "origin": origin,
            "enabled": True,
            "error_count": 0,
            "next_poll_at": now,
            "created_at": now,
        }

    async def add_source(self, url: str, *, now: datetime, origin: str = "user") -> Source:
        """Add a source, or enable a known one again (due at once) with its stories."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(sources).where(sources.c.url == url))).first()
            if row is None:
                await conn.execute(insert(sources).values(**self._new_source(url, origin, now)))
            elif not row.enabled:
                await conn.execute(
                    sql_update(sources)
                    .where(sources.c.id == row.id)
                    .values(enabled=True, disabled_reason=None, next_poll_at=now, error_count=0)
                )
            row = (await conn.execute(_SOURCES.where(sources.c.url == url))).one()
            return _source(row, row.stories_count)

    async def remove_source(self, url: str) -> Source | None:
        """Stop polling a source ("removed"); its stories stay until retention removes them.

        Returns the source as it is now, or None when no source has `url`.
        """
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(sources)
                .where(sources.c.url == url)
                .values(enabled=False, disabled_reason="removed")
            )
            row = (await conn.execute(_SOURCES.where(sources.c.url == url))).first()
            return None if row is None else _source(row, row.stories_count)

    async def list_sources(self) -> list[Source]:
        """Every source with its story count (a counter, not a count of the archive)."""
        async with self.engine.connect() as conn:
            return [_source(row, row.stories_count) for row in await conn.execute(_SOURCES)]

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
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claim = (
            sql_update(sources)
            .where(sources.c.id.in_(due.scalar_subquery()))
            .values(next_poll_at=lease_until)
            .returning(*sources.c)
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(claim)).all()
        return sorted((_source(row) for row in rows), key=lambda source: source.id)

    async def record_success(
        self,
        source_id: int,
        *,
        now: datetime,
        next_poll_at: datetime,
        title: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        content_hash: str | None = None,
        poll_interval: timedelta | None = None,
        target_interval: timedelta | None = None,
        url: str | None = None,
    ) -> None:
        """A poll went well; `url` is where the feed moved permanently (kept unless taken)."""
        await self.record_outcomes(
            [
                PollRecord(
                    source_id,
                    now,
                    next_poll_at,
                    title=title,
                    etag=etag,
                    last_modified=last_modified,
                    content_hash=content_hash,
                    poll_interval=poll_interval,
                    target_interval=target_interval,
                    url=url,
                )
            ]
        )

    async def record_failure(
        self,
        source_id: int,
        *,
        now: datetime,
        next_poll_at: datetime,
        kind: str,
        message: str,
        disable: bool = False,
    ) -> None:
        """A poll failed; `disable` stops polling the source (the feed is gone)."""
        await self.record_outcomes(
            [
                PollRecord(
                    source_id, now, next_poll_at, error_kind=kind, error=message, disable=disable
                )
            ]
        )

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
                "b_poll": _whole_seconds(record.poll_interval),
                "b_target": _whole_seconds(record.target_interval),
            }
            for record in records
            if record.error_kind is None
        ]
        failures = [
            {
                "b_id": record.source_id,
                "b_now": record.now,
                "b_next": record.next_poll_at,
                "b_error": error_text(record.error, self.secrets),
                "b_kind": record.error_kind[:50],
            }
            for record in records
            if record.error_kind is not None
        ]
        moved = [record for record in records if record.error_kind is None and record.url]
        gone = [record.source_id for record in records if record.error_kind and record.disable]
        async with self.engine.begin() as conn:
            if successes:
                await conn.execute(_RECORD_SUCCESS, successes)
            if failures:
                await conn.execute(_RECORD_FAILURE, failures)
            if gone:
                await conn.execute(
                    sql_update(sources)
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
                        sql_update(sources)
                        .where(sources.c.id == record.source_id)
                        .values(url=record.url[:2048])
                    )

    async def set_source_enabled(self, url: str, enabled: bool, *, now: datetime) -> bool:
        """Enable (due at once, errors forgotten) or disable a source; False if none has `url`."""
        values: dict[str, Any] = {
            "enabled": enabled,
            "disabled_reason": None if enabled else "removed",
        }
        if enabled:
            values.update(next_poll_at=now, error_count=0)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sql_update(sources).where(sources.c.url == url).values(**values)
            )
            return bool(result.rowcount)

    # Stories ---------------------------------------------------------------------------------

    async def store_stories(self, drafts: Sequence[StoryDraft], *, now: datetime) -> list[Story]:
        """Insert the drafts that are new; return them as stories, oldest first.

        A draft is not new when its source already has its entry id, or when any source already
        carries its link (one URL in two feeds is one story), or, without a link, when its
        source already has a linkless story of the same headline and summary. A known entry
        whose headline changed is updated in place.
        """
        if not drafts:
            return []
        async with self.engine.begin() as conn:
            source_ids = {draft.source_id for draft in drafts}
            known_entries: dict[tuple[int, str], tuple[int, str]] = {}
            entry_ids = [draft.entry_id for draft in drafts]
            for chunk in chunks(entry_ids, 500):
                rows = await conn.execute(
                    select(
                        stories.c.id, stories.c.source_id, stories.c.entry_id, stories.c.title
                    ).where(stories.c.source_id.in_(source_ids), stories.c.entry_id.in_(chunk))
                )
                for row in rows:
                    known_entries[(row.source_id, row.entry_id)] = (row.id, row.title)
            links = [draft.link for draft in drafts if draft.link]
            known_links: set[str] = set()
            for chunk in chunks(links, 500):
                rows = await conn.execute(select(stories.c.link).where(stories.c.link.in_(chunk)))
                known_links.update(row.link for row in rows)

            # An entry without a link is known by its text within its source too: some feeds
            # give such entries a new guid at every fetch.
            unlinked = {draft.title for draft in drafts if not draft.link}
            known_texts: set[tuple[int, str, str]] = set()
            for chunk in chunks(sorted(unlinked), 500):
                rows = await conn.execute(
                    select(stories.c.source_id, stories.c.title, stories.c.summary).where(
                        stories.c.source_id.in_(source_ids),
                        stories.c.link == "",
                        stories.c.title.in_(chunk),
                    )
                )
                known_texts.update((row.source_id, row.title, row.summary) for row in rows)

            fresh: list[StoryDraft] = []
            seen_keys: set[tuple[int, str]] = set()
            for draft in drafts:
                key = (draft.source_id, draft.entry_id)
                if key in known_entries:
                    story_id, title = known_entries[key]
                    if title != draft.title:
                        await conn.execute(
                            sql_update(stories)
                            .where(stories.c.id == story_id)
                            .values(
                                title=draft.title,
                                summary=draft.summary,
                                terms=" ".join(draft.terms),
                                body=draft.body or None,
                            )
                        )
                    continue
                text_key = (draft.source_id, draft.title, draft.summary)
                if (
                    key in seen_keys
                    or (draft.link and draft.link in known_links)
                    or (not draft.link and text_key in known_texts)
                ):
                    continue
                seen_keys.add(key)
                if draft.link:
                    known_links.add(draft.link)
                else:
                    known_texts.add(text_key)
                fresh.append(draft)
            fresh.sort(key=lambda draft: draft.published_at)
            if not fresh:
                return []
            # RETURNING in parameter order would make SQLAlchemy insert one row per statement
            # (SQLite has no sentinel column here); batched rows come back keyed instead.
            inserted = await conn.execute(
                insert(stories).returning(stories.c.id, stories.c.source_id, stories.c.entry_id),
                [
                    {
                        "source_id": draft.source_id,
                        "entry_id": draft.entry_id,
                        "title": draft.title,
                        "summary": draft.summary,
                        "link": draft.link,
                        "published_at": draft.published_at,
                        "first_seen_at": now,
                        "language": draft.language,
                        "terms": " ".join(draft.terms),
                        "body": draft.body or None,
                    }
                    for draft in fresh
                ],
            )
            ids = {(row.source_id, row.entry_id): row.id for row in inserted}
            names = {
                row.id: source_name(row.title, row.url)
                for row in await conn.execute(
                    select(sources.c.id, sources.c.title, sources.c.url).where(
                        sources.c.id.in_(source_ids)
                    )
                )
            }
        return [
            Story(
                id=ids[(draft.source_id, draft.entry_id)],
                source_id=draft.source_id,
                source_name=names.get(draft.source_id, ""),
                title=draft.title,
                summary=draft.summary,
                link=draft.link,
                published_at=draft.published_at,
                first_seen_at=now,
                language=draft.language,
                terms=draft.terms,
            )
            for draft in fresh
        ]

    async def latest(
        self,
        topic: Topic | None,
        *,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[Story]:
        """The newest stories matching `topic` (all when None), newest first.

        `before` is a keyset cursor, (published_at, id) of the last story of the previous page:
        paging never uses offsets, so it stays fast and stable while new stories arrive.
        """
        query = select(*STORY_COLUMNS).join(sources, sources.c.id == stories.c.source_id)
        if before is not None:
            published, story_id = before
            query = query.where(
                or_(
                    stories.c.published_at < published,
                    and_(stories.c.published_at == published, stories.c.id < story_id),
                )
            )
        query = query.order_by(*newest_first(self.dialect, topic)).limit(limit)
        async with self.engine.connect() as conn:
            if topic is not None:
                kept, dropped = await topic_sources(conn, topic)
                query = query.where(
                    topic_clause(
                        self.dialect,
                        topic,
                        limit=limit,
                        before=before,
                        sources=kept,
                        excluded_sources=dropped,
                    )
                )
            return [story_from_row(row) for row in await conn.execute(query)]
