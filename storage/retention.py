"""Retention: the archive is pruned to a window (`NEWSBOT_RETENTION_DAYS`) in small batches.

What goes, in this order, each batch its own short transaction of at most `BATCH` rows, so the
poller and the senders never wait behind a long lock (on SQLite the one writer is free between
batches; on PostgreSQL no batch holds row locks for long):

1. finished deliveries (sent or failed) last touched before the cutoff. The outbox is walked by
   primary key from its oldest row; rows are numbered in the order they were queued, so the walk
   stops at the first batch queued after the cutoff and never reads the young part of the table;
2. chats inactive (blocked the bot, kicked it, became a supergroup) since before the cutoff,
   with their subscriptions and anything left in their outbox;
3. stories published and first seen before the cutoff (a story a feed still carries after the
   window is kept a window from when it was read, so a feed's old entries are not stored again
   at every poll), whole events at a time: a story stays while another report of its event is
   younger, so a cluster never loses its lead while it is listed. A story still owed to a chat
   (queued since the cutoff) stays too. Their full-text rows go with them (SQLite: the FTS5
   delete trigger; PostgreSQL: the tsvector is a column of the row), and the per-source story
   counters follow (triggers, migration 0009).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from news.model import PruneReport
from storage.base import StorageBase
from storage.tables import chats, deliveries, stories, subscriptions

#: Rows a batch deletes at most: small enough that a writer waits milliseconds behind it.
BATCH = 1000
#: A chat takes its subscriptions (up to 50) along, so chats go by a tenth of a batch.
_CHAT_SHARE = 10
#: Seconds between batches, so other writers (on SQLite the only one) get their turn.
BATCH_PAUSE = 0.01
_FINISHED = ("sent", "failed")
_OWED = ("pending", "sending")


class Retention(StorageBase):
    """The pruning part of `SqlStorage`."""

    _on_batch: Callable[[float], None] | None = None

    async def prune(
        self,
        before: datetime,
        *,
        batch: int = BATCH,
        pause: float = BATCH_PAUSE,
        on_batch: Callable[[float], None] | None = None,
    ) -> PruneReport:
        """Delete what is older than `before`, batch by batch; what was deleted, and in how
        many transactions. `on_batch` learns how many seconds each transaction took."""
        self._on_batch = on_batch
        report = PruneReport()
        for step in (self._prune_deliveries, self._prune_chats, self._prune_stories):
            report = report + await step(before, batch, pause)
        return report

    @asynccontextmanager
    async def _batch(self) -> AsyncIterator[AsyncConnection]:
        started = time.perf_counter()
        async with self.begin() as conn:
            yield conn
        if self._on_batch is not None:
            self._on_batch(time.perf_counter() - started)

    async def _prune_deliveries(self, before: datetime, batch: int, pause: float) -> PruneReport:
        deleted = batches = 0
        after = 0
        while True:
            async with self._batch() as conn:
                rows = (
                    await conn.execute(
                        select(deliveries.c.id, deliveries.c.created_at)
                        .where(deliveries.c.id > after)
                        .order_by(deliveries.c.id)
                        .limit(batch)
                    )
                ).all()
                if not rows:
                    break
                result = await conn.execute(
                    delete(deliveries).where(
                        deliveries.c.id.between(rows[0].id, rows[-1].id),
                        deliveries.c.state.in_(_FINISHED),
                        deliveries.c.updated_at < before,
                    )
                )
            deleted += result.rowcount or 0
            batches += 1
            after = rows[-1].id
            if len(rows) < batch or rows[-1].created_at >= before:
                break
            await asyncio.sleep(pause)
        return PruneReport(deliveries=deleted, batches=batches)

    async def _prune_chats(self, before: datetime, batch: int, pause: float) -> PruneReport:
        deleted = batches = 0
        per_batch = max(1, batch // _CHAT_SHARE)
        while True:
            async with self._batch() as conn:
                ids = list(
                    (
                        await conn.execute(
                            select(chats.c.id)
                            .where(~chats.c.active, chats.c.inactive_since < before)
                            .order_by(chats.c.id)
                            .limit(per_batch)
                        )
                    ).scalars()
                )
                if not ids:
                    break
                await conn.execute(delete(deliveries).where(deliveries.c.chat_id.in_(ids)))
                await conn.execute(delete(subscriptions).where(subscriptions.c.chat_id.in_(ids)))
                await conn.execute(delete(chats).where(chats.c.id.in_(ids)))
            deleted += len(ids)
            batches += 1
            if len(ids) < per_batch:
                break
            await asyncio.sleep(pause)
        return PruneReport(chats=deleted, batches=batches)

    async def _prune_stories(self, before: datetime, batch: int, pause: float) -> PruneReport:
        member = stories.alias("member")
        younger_report = exists().where(
            member.c.cluster_id == stories.c.cluster_id,
            or_(member.c.published_at >= before, member.c.first_seen_at >= before),
        )
        still_owed = exists().where(
            deliveries.c.story_id == stories.c.id,
            deliveries.c.state.in_(_OWED),
            deliveries.c.created_at >= before,
        )
        deleted = batches = 0
        last: tuple[datetime, int] | None = None
        while True:
            candidates = (
                select(stories.c.id, stories.c.published_at)
                .where(
                    stories.c.published_at < before,
                    stories.c.first_seen_at < before,
                    or_(stories.c.cluster_id.is_(None), ~younger_report),
                    ~still_owed,
                )
                .order_by(stories.c.published_at, stories.c.id)
                .limit(batch)
            )
            if last is not None:
                # Stories kept by the rules above are not read again in this run.
                candidates = candidates.where(
                    or_(
                        stories.c.published_at > last[0],
                        and_(stories.c.published_at == last[0], stories.c.id > last[1]),
                    )
                )
            async with self._batch() as conn:
                rows = (await conn.execute(candidates)).all()
                if not rows:
                    break
                await conn.execute(delete(stories).where(stories.c.id.in_([r.id for r in rows])))
            deleted += len(rows)
            batches += 1
            last = (rows[-1].published_at, rows[-1].id)
            if len(rows) < batch:
                break
            await asyncio.sleep(pause)
        return PruneReport(stories=deleted, batches=batches)
