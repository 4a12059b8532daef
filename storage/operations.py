"""Operations: the database's answer to /healthz, /metrics and /status, and the once-a-streak
report of sources failing for a day (see `news.operations`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncEngine

from news.model import Source
from news.operations import FAILING_LISTED, OperationsStatus
from storage.tables import chats, deliveries, sources


class Operations:
    """The operator's half of `SqlStorage`."""

    engine: AsyncEngine
    dialect: str

    async def list_sources(self) -> list[Source]:
        raise NotImplementedError  # SqlStorage's

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(select(literal(1)))

    async def operations_status(
        self, now: datetime, *, failing_listed: int = FAILING_LISTED
    ) -> OperationsStatus:
        """The outbox's depth, the poll lag and the failing sources, as of `now`.

        Every count reads an index or the small sources table; `failing_listed=0` skips
        naming the failing sources (what /metrics asks for at every scrape).
        """
        failing = sources.c.error_count > 0
        source_counts = select(
            func.count(),
            func.coalesce(func.sum(case((failing, 1), else_=0)), 0),
            func.min(case((sources.c.next_poll_at <= now, sources.c.next_poll_at))),
            func.max(sources.c.last_polled_at),
        ).where(sources.c.enabled)
        outbox = (
            select(deliveries.c.state, func.count())
            .where(deliveries.c.state.in_(("pending", "sending")))
            .group_by(deliveries.c.state)
        )
        # The oldest row a sender would push now: digest chats' rows wait for their hour.
        oldest = (
            select(deliveries.c.created_at)
            .join(chats, chats.c.id == deliveries.c.chat_id)
            .where(
                deliveries.c.state == "pending",
                chats.c.active,
                chats.c.paused.is_(False),
                chats.c.digest_time.is_(None),
            )
            .order_by(deliveries.c.id)
            .limit(1)
        )
        async with self.engine.connect() as conn:
            enabled, failing_count, oldest_due, last_polled = (
                await conn.execute(source_counts)
            ).one()
            states = {row[0]: row[1] for row in await conn.execute(outbox)}
            oldest_pending = (await conn.execute(oldest)).scalar()
        listed: list[Source] = []
        if failing_listed and failing_count:
            listed = sorted(
                (s for s in await self.list_sources() if s.enabled and s.error_count),
                key=lambda s: (s.last_success_at is not None, s.last_success_at, s.id),
            )[:failing_listed]
        return OperationsStatus(
            now=now,
            sources_enabled=enabled,
            failing_count=failing_count,
            failing=listed,
            outbox_pending=states.get("pending", 0),
            outbox_sending=states.get("sending", 0),
            oldest_pending_at=oldest_pending,
            oldest_due_at=oldest_due,
            last_polled_at=last_polled,
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
        async with self.engine.connect() as conn:
            if (await conn.execute(probe)).first() is None:
                return []  # the usual answer, without a write transaction
        candidates = select(sources.c.id).where(unreported)
        if self.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        async with self.engine.begin() as conn:
            claimed = await conn.execute(
                sql_update(sources)
                .where(sources.c.id.in_(candidates.scalar_subquery()))
                .values(failure_reported_at=now)
                .returning(sources.c.id)
            )
            ids: Sequence[int] = [row.id for row in claimed]
        if not ids:
            return []
        return [source for source in await self.list_sources() if source.id in set(ids)]
