"""Operations in storage: the database's answer to /healthz, /metrics and /status (see
`news.model.OperationsStatus`). The once-a-streak report of failing sources is the sources' own
(`storage.sources`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, literal, select

from news.model import OperationsStatus
from news.policy import FAILING_LISTED
from storage.base import StorageBase, source_from_row
from storage.tables import chats, deliveries, sources

# Enabled sources whose last poll failed.
_FAILING = (sources.c.enabled, sources.c.error_count > 0)


class Operations(StorageBase):
    """The operator's part of `SqlStorage`."""

    async def ping(self) -> None:
        """Raise `StorageError` unless the database answers a trivial query."""
        async with self.connect() as conn:
            await conn.execute(select(literal(1)))

    async def operations_status(
        self, now: datetime, *, failing_listed: int = FAILING_LISTED
    ) -> OperationsStatus:
        """The outbox's depth, the poll lag and the failing sources, as of `now`.

        Every count reads an index or the small sources table; `failing_listed=0` skips
        naming the failing sources (what /metrics asks for at every scrape).
        """
        source_counts = select(
            func.count(),
            func.coalesce(func.sum(case((sources.c.error_count > 0, 1), else_=0)), 0),
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
        # The longest failing first: never fetched, then by their last success.
        failing = (
            select(sources)
            .where(*_FAILING)
            .order_by(
                sources.c.last_success_at.is_not(None), sources.c.last_success_at, sources.c.id
            )
            .limit(failing_listed)
        )
        async with self.connect() as conn:
            enabled, failing_count, oldest_due, last_polled = (
                await conn.execute(source_counts)
            ).one()
            states = {row[0]: row[1] for row in await conn.execute(outbox)}
            oldest_pending = (await conn.execute(oldest)).scalar()
            listed = (
                [source_from_row(row) for row in await conn.execute(failing)]
                if failing_listed and failing_count
                else []
            )
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
