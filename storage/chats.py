"""Chats and subscriptions in storage: who talks to the bot, how each chat takes its pushes, and
which topics it follows.

A chat the bot can no longer write to (blocked, kicked) becomes inactive and drops what it was
owed; `/start` makes it active again. A group that became a supergroup moves to its new id with
its settings, topics and pending stories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from news.model import ChatSettings, PreviewMode, Subscription
from storage.base import StorageBase
from storage.tables import chats, deliveries, subscriptions

# Outbox rows a chat is still owed: dropped with an inactive chat, moved with a migrated one.
_OWED = ("pending", "sending")


def _settings(row: Row[Any]) -> ChatSettings:
    return ChatSettings(
        row.id,
        row.kind,
        row.active,
        row.paused,
        row.digest_time,
        row.timezone,
        row.language,
        preview=row.preview,
        silent=row.silent,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        chosen_language=row.chosen_language,
    )


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(row.chat_id, row.topic, row.created_at, row.thread_id)


class ChatStore(StorageBase):
    """The chats and subscriptions part of `SqlStorage`."""

    async def upsert_chat(
        self, chat_id: int, *, kind: str, title: str | None, now: datetime
    ) -> None:
        """Remember a chat that wrote to the bot; a chat that had blocked it is active again."""
        async with self.begin() as conn:
            exists = (await conn.execute(select(chats.c.id).where(chats.c.id == chat_id))).first()
            if exists:
                await conn.execute(
                    update(chats)
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
        async with self.begin() as conn:
            await conn.execute(
                update(chats)
                .where(chats.c.id == chat_id, chats.c.active)
                .values(active=False, inactive_since=now)
            )
            dropped = await conn.execute(
                update(deliveries)
                .where(deliveries.c.chat_id == chat_id, deliveries.c.state.in_(_OWED))
                .values(state="failed", last_error=self.error_text(reason), updated_at=now)
            )
            return int(dropped.rowcount or 0)

    async def chat_settings(self, chat_id: int) -> ChatSettings | None:
        async with self.connect() as conn:
            row = (await conn.execute(select(chats).where(chats.c.id == chat_id))).first()
        return None if row is None else _settings(row)

    async def _set_chat(self, chat_id: int, **values: object) -> None:
        async with self.begin() as conn:
            await conn.execute(update(chats).where(chats.c.id == chat_id).values(**values))

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

    async def set_preview(self, chat_id: int, preview: PreviewMode) -> None:
        """Link previews under the chat's pushes: none, small, or a large image above the text."""
        await self._set_chat(chat_id, preview=preview)

    async def set_silent(self, chat_id: int, silent: bool) -> None:
        """Pushes to the chat arrive without a notification sound, or with one."""
        await self._set_chat(chat_id, silent=silent)

    async def set_quiet_hours(self, chat_id: int, start: int | None, end: int | None) -> None:
        """Quiet hours from `start` to `end` (minutes after midnight, local), or none (None).

        What the old ones held is due at once: the sender holds it again if the new hours
        cover now, and sends it otherwise, rather than keep it to the old hours' end.
        """
        async with self.begin() as conn:
            await conn.execute(
                update(chats).where(chats.c.id == chat_id).values(quiet_start=start, quiet_end=end)
            )
            await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.chat_id == chat_id,
                    deliveries.c.held,
                    deliveries.c.state == "pending",
                )
                .values(next_attempt_at=None)
            )

    async def set_chosen_language(self, chat_id: int, language: str | None) -> None:
        """The language chosen in /settings (a code the bot speaks), or automatic (None)."""
        await self._set_chat(chat_id, chosen_language=language)

    async def chat_push_settings(self, chat_ids: Sequence[int]) -> dict[int, ChatSettings]:
        """The settings of each of these chats that is known: what the sender needs to push to
        them (language, previews, sound, quiet hours)."""
        query = select(chats).where(chats.c.id.in_(sorted(set(chat_ids))))
        async with self.connect() as conn:
            return {row.id: _settings(row) for row in await conn.execute(query)}

    async def digest_chats(self) -> list[ChatSettings]:
        """Active chats that take a daily digest."""
        query = select(chats).where(chats.c.active, chats.c.digest_time.is_not(None))
        async with self.connect() as conn:
            return [_settings(row) for row in await conn.execute(query)]

    async def migrate_chat(self, old_id: int, new_id: int, *, now: datetime) -> None:
        """A group became a supergroup: its settings, topics and pending stories move along."""
        async with self.begin() as conn:
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
                        preview=old.preview,
                        silent=old.silent,
                        quiet_start=old.quiet_start,
                        quiet_end=old.quiet_end,
                        chosen_language=old.chosen_language,
                        created_at=now,
                    )
                )
            # A basic group has no forum topics: its subscriptions are all the chat's own.
            new_topics = select(subscriptions.c.topic).where(
                subscriptions.c.chat_id == new_id, subscriptions.c.thread_id == 0
            )
            await conn.execute(
                update(subscriptions)
                .where(subscriptions.c.chat_id == old_id, subscriptions.c.topic.not_in(new_topics))
                .values(chat_id=new_id)
            )
            new_stories = select(deliveries.c.story_id).where(deliveries.c.chat_id == new_id)
            await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.chat_id == old_id,
                    deliveries.c.state.in_(_OWED),
                    deliveries.c.story_id.not_in(new_stories),
                )
                .values(chat_id=new_id, state="pending", next_attempt_at=None, updated_at=now)
            )
            await conn.execute(delete(subscriptions).where(subscriptions.c.chat_id == old_id))
            await conn.execute(
                update(chats)
                .where(chats.c.id == old_id)
                .values(active=False, inactive_since=func.coalesce(chats.c.inactive_since, now))
            )

    async def subscribe(
        self, chat_id: int, topic: str, *, now: datetime, thread_id: int = 0
    ) -> bool:
        """Follow `topic` in the chat (in its forum topic `thread_id`); False when it already
        does."""
        async with self.begin() as conn:
            exists = (
                await conn.execute(
                    select(subscriptions.c.topic).where(
                        subscriptions.c.chat_id == chat_id,
                        subscriptions.c.thread_id == thread_id,
                        subscriptions.c.topic == topic,
                    )
                )
            ).first()
            if exists:
                return False
            await conn.execute(
                insert(subscriptions).values(
                    chat_id=chat_id, thread_id=thread_id, topic=topic, created_at=now
                )
            )
            return True

    async def unsubscribe(self, chat_id: int, topic: str, *, thread_id: int = 0) -> bool:
        """Stop following `topic` in the chat (in its forum topic `thread_id`); False when it
        did not."""
        async with self.begin() as conn:
            result = await conn.execute(
                delete(subscriptions).where(
                    subscriptions.c.chat_id == chat_id,
                    subscriptions.c.thread_id == thread_id,
                    subscriptions.c.topic == topic,
                )
            )
            return bool(result.rowcount)

    async def subscriptions(
        self, chat_id: int, *, thread_id: int | None = None
    ) -> list[Subscription]:
        """The chat's topics in the order it subscribed: those of one forum topic
        (`thread_id`, 0 for the chat itself), or of all of them (None)."""
        query = (
            select(subscriptions)
            .where(subscriptions.c.chat_id == chat_id)
            .order_by(subscriptions.c.created_at, subscriptions.c.thread_id, subscriptions.c.topic)
        )
        if thread_id is not None:
            query = query.where(subscriptions.c.thread_id == thread_id)
        async with self.connect() as conn:
            return [_subscription(row) for row in await conn.execute(query)]

    async def end_thread(self, chat_id: int, thread_id: int, *, reason: str, now: datetime) -> int:
        """A forum topic the bot can no longer post in (closed, deleted): its subscriptions end
        and what it was owed is dropped; the chat's other topics keep theirs. How many
        subscriptions ended."""
        async with self.begin() as conn:
            ended = await conn.execute(
                delete(subscriptions).where(
                    subscriptions.c.chat_id == chat_id, subscriptions.c.thread_id == thread_id
                )
            )
            await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.chat_id == chat_id,
                    deliveries.c.thread_id == thread_id,
                    deliveries.c.state.in_(_OWED),
                )
                .values(state="failed", last_error=self.error_text(reason), updated_at=now)
            )
            return int(ended.rowcount or 0)

    async def active_subscriptions(self) -> list[Subscription]:
        """Subscriptions of chats that take pushes now: active and not paused."""
        query = (
            select(subscriptions, chats.c.language, chats.c.chosen_language)
            .join(chats, chats.c.id == subscriptions.c.chat_id)
            .where(chats.c.active, chats.c.paused.is_(False))
        )
        async with self.connect() as conn:
            return [
                replace(_subscription(row), language=row.chosen_language or row.language)
                for row in await conn.execute(query)
            ]
