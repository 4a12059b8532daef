"""The outbox: which story each chat is owed, its sends, and the "Also:" edits of pushed cards.

The outbox is durable: one row per (chat, forum topic, story), unique (a forum topic is a
`thread_id`; 0 is the chat itself), with a state (pending → sending → sent,
or failed) and an attempt count. A row is claimed before it is sent; a claim is a lease, so rows
of a sender that died mid-send are claimed again once the lease runs out (those few messages may
arrive twice; nothing is lost). On PostgreSQL claims use FOR UPDATE SKIP LOCKED, so several
senders on one database never take the same row.

A pushed card names the other outlets of its event. When the event gains a report its cards
become due for an edit (`storage.clusters`); `claim_edits` hands them out no more than once a
minute per message and never once the card is older than the cluster window, as Telegram users
expect of a message that changes under their eyes. The outlets a card names are read from those
kept for its event (`storage.coverage`), one row per outlet, never the event's reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from news.delivery import EventKey, first_per_event, holds_event
from news.model import Delivery, PushedMessage, SentRow, Story, TopicMatch
from news.policy import EDIT_INTERVAL, EDIT_WINDOW, SEND_LEASE
from storage.base import STORY_COLUMNS, StorageBase, chunks, story_from_row
from storage.coverage import outlet_names
from storage.tables import chats, deliveries, sources, stories

#: A claimed row, its story and the other outlets reporting the story's event.
_Claimed = tuple[Any, Story, tuple[str, ...]]
#: What a claim reads of its outbox rows, for a send or for an edit.
_CLAIMED_COLUMNS = (
    deliveries.c.id.label("delivery_id"),
    deliveries.c.chat_id,
    deliveries.c.thread_id,
    deliveries.c.topics,
    deliveries.c.state,
    deliveries.c.attempts,
    deliveries.c.message_id,
    deliveries.c.shown_sources,
    deliveries.c.held,
)


async def _load_claimed(conn: AsyncConnection, ids: Sequence[int]) -> list[_Claimed]:
    """Claimed outbox rows, each with its story and the other outlets of the story's event, in
    row order."""
    rows = list(
        await conn.execute(
            select(*_CLAIMED_COLUMNS, *STORY_COLUMNS)
            .join(stories, stories.c.id == deliveries.c.story_id)
            .join(sources, sources.c.id == stories.c.source_id)
            .where(deliveries.c.id.in_(ids))
            .order_by(deliveries.c.id)
        )
    )
    reported = [story_from_row(row) for row in rows]
    names = await outlet_names(conn, {story.cluster_id for story in reported if story.cluster_id})
    return [
        (row, story, _others(names.get(story.cluster_id or 0, ()), story))
        for row, story in zip(rows, reported, strict=True)
    ]


def _others(outlets: Sequence[tuple[int, str]], story: Story) -> tuple[str, ...]:
    """The names of the outlets other than `story`'s own, first reporter first, each once."""
    return tuple(
        dict.fromkeys(
            name
            for source, name in outlets
            if source != story.source_id and name != story.source_name
        )
    )


class Outbox(StorageBase):
    """The outbox part of `SqlStorage`: sends and edits."""

    async def enqueue_deliveries(self, items: Sequence[TopicMatch], *, now: datetime) -> int:
        """Queue the matches (chat, story, matched topics), oldest story first.

        A chat (in each of its forum topics) gets one push per event (`news.delivery.events`:
        the rule and its reason); this reads which events each place is owed already.
        """
        if not items:
            return 0
        async with self.begin() as conn:
            story_ids = sorted({item.story_id for item in items})
            event_of: dict[int, int] = {}
            for chunk in chunks(story_ids):
                rows = await conn.execute(
                    select(stories.c.id, stories.c.cluster_id).where(stories.c.id.in_(chunk))
                )
                for row in rows:
                    event_of[row.id] = row.cluster_id if row.cluster_id is not None else row.id
            clusters = sorted(set(event_of.values()))
            owed: set[EventKey] = set()
            asked = set(story_ids)
            for chunk in chunks(clusters):
                rows = await conn.execute(
                    select(
                        deliveries.c.chat_id,
                        deliveries.c.thread_id,
                        deliveries.c.state,
                        stories.c.cluster_id,
                        stories.c.id,
                    )
                    .join(stories, stories.c.id == deliveries.c.story_id)
                    .where(or_(stories.c.cluster_id.in_(chunk), stories.c.id.in_(chunk)))
                )
                for row in rows:
                    if holds_event(row.state, row.id, asked):
                        event = row.cluster_id if row.cluster_id is not None else row.id
                        owed.add((row.chat_id, row.thread_id, event))
            fresh = [
                {
                    "chat_id": match.chat_id,
                    "thread_id": match.thread_id,
                    "story_id": match.story_id,
                    "topics": match.topics,
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for match in first_per_event(items, event_of, owed)
            ]
            for chunk in chunks(fresh, 1000):
                await conn.execute(insert(deliveries), list(chunk))
            return len(fresh)

    async def _claim(
        self, conn: AsyncConnection, candidates: Select[Any], **values: Any
    ) -> list[int]:
        """Write `values` to the candidate rows no other sender holds; the ids it took."""
        if self.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True, of=deliveries)
        claimed = await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(candidates.scalar_subquery()))
            .values(**values)
            .returning(deliveries.c.id)
        )
        return [row.id for row in claimed]

    async def claim_deliveries(
        self,
        *,
        limit: int,
        now: datetime,
        lease: timedelta = SEND_LEASE,
        chat_id: int | None = None,
        digest_retries: bool = False,
    ) -> list[Delivery]:
        """Claim up to `limit` rows that are due, oldest first, and mark them "sending".

        Due: pending and past any retry time, or "sending" under a lease that ran out (its
        sender died). Chats that are paused or take a daily digest are left out, unless
        `chat_id` names the chat, as the digest job does. `digest_retries` claims instead the
        rows of digest chats that a digest tried to send and must try again (they have a
        retry time; rows that wait for their digest have none).
        """
        due = or_(
            and_(
                deliveries.c.state == "pending",
                or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
            ),
            and_(deliveries.c.state == "sending", deliveries.c.updated_at < now - lease),
        )
        candidates = (
            select(deliveries.c.id)
            .join(chats, chats.c.id == deliveries.c.chat_id)
            .where(due, chats.c.active)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        if digest_retries:
            candidates = candidates.where(
                chats.c.paused.is_(False),
                chats.c.digest_time.is_not(None),
                # A retry time, or a claim whose sender died mid-digest.
                or_(deliveries.c.next_attempt_at.is_not(None), deliveries.c.state == "sending"),
            )
        elif chat_id is None:
            candidates = candidates.where(chats.c.paused.is_(False), chats.c.digest_time.is_(None))
        else:
            candidates = candidates.where(deliveries.c.chat_id == chat_id)
        async with self.begin() as conn:
            ids = await self._claim(
                conn,
                candidates,
                state="sending",
                attempts=deliveries.c.attempts + 1,
                updated_at=now,
            )
            if not ids:
                return []
            claimed = await _load_claimed(conn, ids)
        return [
            Delivery(
                row.delivery_id,
                row.chat_id,
                story,
                row.topics,
                row.state,
                row.attempts,
                also,
                thread_id=row.thread_id,
                held=row.held,
            )
            for row, story, also in claimed
        ]

    async def mark_sent_many(self, sent: Sequence[SentRow], *, now: datetime) -> None:
        """Record many sent rows (with their message and the outlets the card names; None for a
        digest, which is never edited) in one transaction: a group commit."""
        if not sent:
            return
        async with self.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == bindparam("row_id"))
                .values(
                    state="sent",
                    message_id=bindparam("sent_message_id"),
                    shown_sources=bindparam("shown", type_=deliveries.c.shown_sources.type),
                    updated_at=now,
                    last_error=None,
                ),
                [
                    {"row_id": row, "sent_message_id": message, "shown": shown}
                    for row, message, shown in sent
                ],
            )

    async def mark_failed(
        self, ids: Sequence[int], *, error: str, now: datetime, retry_at: datetime | None = None
    ) -> None:
        """These rows were not sent: pending again from `retry_at`, or failed for good."""
        async with self.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(ids)))
                .values(
                    state="failed" if retry_at is None else "pending",
                    next_attempt_at=retry_at,
                    last_error=self.error_text(error),
                    updated_at=now,
                )
            )

    async def hold_deliveries(self, ids: Sequence[int], *, until: datetime, now: datetime) -> None:
        """These claimed rows fell in their chat's quiet hours: pending again from `until`, when
        they end, and marked to go out together as one digest."""
        async with self.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(ids)))
                .values(state="pending", next_attempt_at=until, held=True, updated_at=now)
            )

    async def delivery_topics(
        self, chat_id: int, story_id: int, *, thread_id: int = 0
    ) -> tuple[str, ...]:
        """The chat's topics (in forum topic `thread_id`) that a story was pushed for; empty if
        it was not pushed there."""
        query = select(deliveries.c.topics).where(
            deliveries.c.chat_id == chat_id,
            deliveries.c.thread_id == thread_id,
            deliveries.c.story_id == story_id,
        )
        async with self.connect() as conn:
            topics: tuple[str, ...] | None = (await conn.execute(query)).scalar()
        return topics or ()

    async def claim_edits(
        self,
        now: datetime,
        *,
        limit: int = 100,
        interval: timedelta = EDIT_INTERVAL,
        window: timedelta = EDIT_WINDOW,
    ) -> list[PushedMessage]:
        """Take the pushed cards due for an edit: at most one per message per `interval`.

        A claim clears the due mark (a failed edit sets it again); cards older than `window`,
        digests and rows that were never sent lose the mark for good.
        """
        probe = select(deliveries.c.id).where(deliveries.c.edit_due_at <= now).limit(1)
        async with self.connect() as conn:
            if (await conn.execute(probe)).first() is None:
                return []  # the usual answer, without a write transaction
        async with self.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.edit_due_at <= now,
                    or_(
                        deliveries.c.created_at <= now - window,
                        deliveries.c.state == "failed",
                        and_(deliveries.c.state == "sent", deliveries.c.shown_sources.is_(None)),
                    ),
                )
                .values(edit_due_at=None)
            )
            candidates = (
                select(deliveries.c.id)
                .join(chats, chats.c.id == deliveries.c.chat_id)
                .where(
                    deliveries.c.edit_due_at <= now,
                    deliveries.c.state == "sent",
                    deliveries.c.message_id.is_not(None),
                    chats.c.active,
                    or_(deliveries.c.edited_at.is_(None), deliveries.c.edited_at <= now - interval),
                )
                .order_by(deliveries.c.edit_due_at, deliveries.c.id)
                .limit(limit)
            )
            ids = await self._claim(conn, candidates, edit_due_at=None)
            if not ids:
                return []
            claimed = await _load_claimed(conn, ids)
        return [
            PushedMessage(
                delivery_id=row.delivery_id,
                chat_id=row.chat_id,
                message_id=row.message_id,
                story=story,
                topics=row.topics,
                also=also,
                shown=row.shown_sources or (),
            )
            for row, story, also in claimed
        ]

    async def mark_edited(
        self,
        delivery_id: int,
        *,
        shown: Sequence[str] | None,
        now: datetime,
        edited: bool = True,
    ) -> None:
        """The card now shows `shown` (`edited`: a request was made, which starts the minute);
        None: the card can no longer be edited (deleted, or refused for good)."""
        values: dict[str, Any] = {"shown_sources": shown}
        if edited:
            values["edited_at"] = now
        async with self.begin() as conn:
            await conn.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(**values)
            )

    async def retry_edit(self, delivery_id: int, *, at: datetime) -> None:
        """An edit that Telegram refused for now is due again at `at`."""
        async with self.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.edit_due_at.is_(None))
                .values(edit_due_at=at)
            )
