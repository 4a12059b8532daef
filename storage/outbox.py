"""Chats, subscriptions and the outbox: who follows what, and which story each chat is owed.

The outbox is durable: one row per (chat, story), unique, with a state (pending → sending → sent,
or failed) and an attempt count. A row is claimed before it is sent; a claim is a lease, so rows
of a sender that died mid-send are claimed again once the lease runs out (those few messages may
arrive twice; nothing is lost). On PostgreSQL claims use FOR UPDATE SKIP LOCKED, so several
senders on one database never take the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncEngine

from news.model import ChatSettings, Delivery, DeliveryState, Subscription
from news.policy import SEND_LEASE
from storage.clusters import load_claimed, shown_text, topics_of
from storage.rows import chunks, error_text
from storage.tables import chats, deliveries, stories, subscriptions


class ChatsAndOutbox:
    """The chat-side half of `SqlStorage`."""

    engine: AsyncEngine
    dialect: str
    secrets: tuple[str, ...]

    # Chats -------------------------------------------------------------------------------------

    async def upsert_chat(
        self, chat_id: int, *, kind: str, title: str | None, now: datetime
    ) -> None:
        """Remember a chat that wrote to the bot; a chat that had blocked it is active again."""
        async with self.engine.begin() as conn:
            exists = (await conn.execute(select(chats.c.id).where(chats.c.id == chat_id))).first()
            if exists:
                await conn.execute(
                    sql_update(chats)
                    .where(chats.c.id == chat_id)
                    .values(kind=kind, title=title, active=True, inactive_since=None)
                )
            else:
                await conn.execute(
                    insert(chats).values(
                        id=chat_id,
                        kind=kind,
                        title=title,
                        active=True,
                        paused=False,
                        created_at=now,
                    )
                )

    async def deactivate_chat(self, chat_id: int, *, reason: str, now: datetime) -> int:
        """The bot can no longer write to the chat: stop it and drop what it was owed."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(chats)
                .where(chats.c.id == chat_id, chats.c.active)
                .values(active=False, inactive_since=now)
            )
            dropped = await conn.execute(
                sql_update(deliveries)
                .where(
                    deliveries.c.chat_id == chat_id, deliveries.c.state.in_(("pending", "sending"))
                )
                .values(state="failed", last_error=error_text(reason, self.secrets), updated_at=now)
            )
            return int(dropped.rowcount or 0)

    async def chat_settings(self, chat_id: int) -> ChatSettings | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(chats).where(chats.c.id == chat_id))).first()
        if row is None:
            return None
        return ChatSettings(
            chat_id=row.id,
            kind=row.kind,
            active=row.active,
            paused=row.paused,
            digest_time=row.digest_time,
            timezone=row.timezone,
            language=row.language,
        )

    async def _set_chat(self, chat_id: int, **values: object) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sql_update(chats).where(chats.c.id == chat_id).values(**values))

    async def set_paused(self, chat_id: int, paused: bool) -> None:
        """Pause or resume pushes to the chat."""
        await self._set_chat(chat_id, paused=paused)

    async def set_digest(self, chat_id: int, digest_time: str | None) -> None:
        """Switch the chat to one daily digest at "HH:MM", or back to instant pushes (None)."""
        await self._set_chat(chat_id, digest_time=digest_time)

    async def set_timezone(self, chat_id: int, timezone: str) -> None:
        """The IANA time zone the chat's digest time is read in."""
        await self._set_chat(chat_id, timezone=timezone)

    async def set_language(self, chat_id: int, language: str) -> None:
        """The language the chat's pushes are written in (a code the bot speaks)."""
        await self._set_chat(chat_id, language=language)

    async def chat_languages(self, chat_ids: Sequence[int]) -> dict[int, str]:
        """The language of each of these chats that has one."""
        wanted = list(set(chat_ids))
        query = select(chats.c.id, chats.c.language).where(
            chats.c.id.in_(wanted), chats.c.language.is_not(None)
        )
        async with self.engine.connect() as conn:
            return {row.id: row.language for row in await conn.execute(query)}

    async def digest_chats(self) -> list[ChatSettings]:
        """Active chats that take a daily digest."""
        query = select(chats).where(chats.c.active, chats.c.digest_time.is_not(None))
        async with self.engine.connect() as conn:
            return [
                ChatSettings(
                    row.id, row.kind, row.active, row.paused, row.digest_time, row.timezone
                )
                for row in await conn.execute(query)
            ]

    async def migrate_chat(self, old_id: int, new_id: int, *, now: datetime) -> None:
        """A group became a supergroup: its settings, topics and pending stories move along."""
        async with self.engine.begin() as conn:
            old = (await conn.execute(select(chats).where(chats.c.id == old_id))).first()
            if old is None:
                return
            if (await conn.execute(select(chats.c.id).where(chats.c.id == new_id))).first() is None:
                await conn.execute(
                    insert(chats).values(
                        id=new_id,
                        kind="supergroup",
                        title=old.title,
                        active=True,
                        paused=old.paused,
                        digest_time=old.digest_time,
                        timezone=old.timezone,
                        language=old.language,
                        created_at=now,
                    )
                )
            new_topics = select(subscriptions.c.topic).where(subscriptions.c.chat_id == new_id)
            await conn.execute(
                sql_update(subscriptions)
                .where(subscriptions.c.chat_id == old_id, subscriptions.c.topic.not_in(new_topics))
                .values(chat_id=new_id)
            )
            new_stories = select(deliveries.c.story_id).where(deliveries.c.chat_id == new_id)
            await conn.execute(
                sql_update(deliveries)
                .where(
                    deliveries.c.chat_id == old_id,
                    deliveries.c.state.in_(("pending", "sending")),
                    deliveries.c.story_id.not_in(new_stories),
                )
                .values(chat_id=new_id, state="pending", next_attempt_at=None, updated_at=now)
            )
            await conn.execute(sql_delete(subscriptions).where(subscriptions.c.chat_id == old_id))
            await conn.execute(
                sql_update(chats)
                .where(chats.c.id == old_id)
                .values(active=False, inactive_since=func.coalesce(chats.c.inactive_since, now))
            )

    # Subscriptions -------------------------------------------------------------------------------

    async def subscribe(self, chat_id: int, topic: str, *, now: datetime) -> bool:
        async with self.engine.begin() as conn:
            exists = (
                await conn.execute(
                    select(subscriptions.c.topic).where(
                        subscriptions.c.chat_id == chat_id, subscriptions.c.topic == topic
                    )
                )
            ).first()
            if exists:
                return False
            await conn.execute(
                insert(subscriptions).values(chat_id=chat_id, topic=topic, created_at=now)
            )
            return True

    async def unsubscribe(self, chat_id: int, topic: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sql_delete(subscriptions).where(
                    subscriptions.c.chat_id == chat_id, subscriptions.c.topic == topic
                )
            )
            return bool(result.rowcount)

    async def subscriptions(self, chat_id: int) -> list[Subscription]:
        query = (
            select(subscriptions)
            .where(subscriptions.c.chat_id == chat_id)
            .order_by(subscriptions.c.created_at, subscriptions.c.topic)
        )
        async with self.engine.connect() as conn:
            return [
                Subscription(row.chat_id, row.topic, row.created_at)
                for row in await conn.execute(query)
            ]

    async def active_subscriptions(self) -> list[Subscription]:
        """Subscriptions of chats that take pushes now: active and not paused."""
        query = (
            select(subscriptions)
            .join(chats, chats.c.id == subscriptions.c.chat_id)
            .where(chats.c.active, chats.c.paused.is_(False))
        )
        async with self.engine.connect() as conn:
            return [
                Subscription(row.chat_id, row.topic, row.created_at)
                for row in await conn.execute(query)
            ]

    # Outbox --------------------------------------------------------------------------------------

    async def enqueue_deliveries(
        self, items: Sequence[tuple[int, int, tuple[str, ...]]], *, now: datetime
    ) -> int:
        """Queue (chat, story, matched topics) rows, oldest story first.

        A chat gets one push per event: a story is skipped for a chat already owed a story of
        the same cluster (its card is edited to name the new outlet instead, see
        `storage.clusters`), or already owed the story itself. An event whose push failed for
        good may come again with its next report.
        """
        if not items:
            return 0
        async with self.engine.begin() as conn:
            story_ids = sorted({story_id for _, story_id, _ in items})
            event_of: dict[int, int] = {}
            for chunk in chunks(story_ids, 500):
                rows = await conn.execute(
                    select(stories.c.id, stories.c.cluster_id).where(stories.c.id.in_(chunk))
                )
                for row in rows:
                    event_of[row.id] = row.cluster_id if row.cluster_id is not None else row.id
            clusters = sorted(set(event_of.values()))
            owed: set[tuple[int, int]] = set()
            asked = set(story_ids)
            for chunk in chunks(clusters, 500):
                rows = await conn.execute(
                    select(
                        deliveries.c.chat_id, deliveries.c.state, stories.c.cluster_id, stories.c.id
                    )
                    .join(stories, stories.c.id == deliveries.c.story_id)
                    .where(or_(stories.c.cluster_id.in_(chunk), stories.c.id.in_(chunk)))
                )
                for row in rows:
                    if row.state == "failed" and row.id not in asked:
                        continue
                    event = row.cluster_id if row.cluster_id is not None else row.id
                    owed.add((row.chat_id, event))
            fresh = []
            for chat_id, story_id, topics in items:
                key = (chat_id, event_of.get(story_id, story_id))
                if key in owed:
                    continue
                owed.add(key)
                fresh.append(
                    {
                        "chat_id": chat_id,
                        "story_id": story_id,
                        "topics": "\n".join(topics),
                        "state": "pending",
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            for chunk in chunks(fresh, 1000):
                await conn.execute(insert(deliveries), list(chunk))
            return len(fresh)

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
        if self.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True, of=deliveries)
        async with self.engine.begin() as conn:
            claimed = await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id.in_(candidates.scalar_subquery()))
                .values(state="sending", attempts=deliveries.c.attempts + 1, updated_at=now)
                .returning(deliveries.c.id)
            )
            ids = [row.id for row in claimed]
            if not ids:
                return []
            claimed_rows = await load_claimed(
                conn,
                ids,
                deliveries.c.chat_id,
                deliveries.c.topics,
                deliveries.c.state,
                deliveries.c.attempts,
            )
            return [
                Delivery(
                    id=row.delivery_id,
                    chat_id=row.chat_id,
                    story=story,
                    topics=topics_of(row.topics),
                    state=row.state,
                    attempts=row.attempts,
                    also=also,
                )
                for row, story, also in claimed_rows
            ]

    async def mark_sent_many(
        self, sent: Sequence[tuple[int, int | None, Sequence[str] | None]], *, now: datetime
    ) -> None:
        """Record many (row, message id, outlets the card names) in one transaction: a group
        commit. The outlets are None for a digest, which is never edited."""
        if not sent:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id == bindparam("row_id"))
                .values(
                    state="sent",
                    message_id=bindparam("sent_message_id"),
                    shown_sources=bindparam("shown"),
                    updated_at=now,
                    last_error=None,
                ),
                [
                    {"row_id": row, "sent_message_id": message, "shown": shown_text(shown)}
                    for row, message, shown in sent
                ],
            )

    async def mark_failed(
        self,
        delivery_ids: Sequence[int],
        *,
        error: str,
        now: datetime,
        retry_at: datetime | None = None,
    ) -> None:
        """These rows were not sent: pending again from `retry_at`, or failed for good."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .values(
                    state="failed" if retry_at is None else "pending",
                    next_attempt_at=retry_at,
                    last_error=error_text(error, self.secrets),
                    updated_at=now,
                )
            )

    async def delivery_states(self) -> dict[DeliveryState, int]:
        """How many outbox rows are in each state (for operators and tests)."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        async with self.engine.connect() as conn:
            return {row[0]: row[1] for row in await conn.execute(query)}
