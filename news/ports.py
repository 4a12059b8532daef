"""The storage interface the domain needs, declared here so that handlers never import SQL.

`storage.SqlStorage` implements it; every method is one transaction and returns the domain's
plain types, with timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from news.model import Delivery, Source, Story, StoryDraft, Subscription
from news.topics import Topic


class Storage(Protocol):
    """Everything Newsbot keeps: sources, stories, chats, subscriptions and the outbox."""

    # Sources
    async def sync_sources(self, urls: Sequence[str], *, now: datetime) -> None: ...
    async def add_source(self, url: str, *, now: datetime, origin: str = "user") -> Source: ...
    async def remove_source(self, url: str) -> bool: ...
    async def list_sources(self) -> list[Source]: ...
    async def due_sources(self, now: datetime) -> list[Source]: ...
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
    ) -> None: ...
    async def record_failure(
        self, source_id: int, *, now: datetime, next_poll_at: datetime, kind: str, message: str
    ) -> None: ...

    # Stories
    async def store_stories(
        self, drafts: Sequence[StoryDraft], *, now: datetime
    ) -> list[Story]: ...
    async def latest(
        self, topic: Topic | None, *, limit: int, before: tuple[datetime, int] | None = None
    ) -> list[Story]: ...

    # Chats and subscriptions
    async def upsert_chat(
        self, chat_id: int, *, kind: str, title: str | None, now: datetime
    ) -> None: ...
    async def set_chat_active(self, chat_id: int, active: bool) -> None: ...
    async def subscribe(self, chat_id: int, topic: str, *, now: datetime) -> bool: ...
    async def unsubscribe(self, chat_id: int, topic: str) -> bool: ...
    async def subscriptions(self, chat_id: int) -> list[Subscription]: ...
    async def active_subscriptions(self) -> list[Subscription]: ...

    # Outbox
    async def enqueue_deliveries(
        self, items: Sequence[tuple[int, int, tuple[str, ...]]], *, now: datetime
    ) -> int: ...
    async def claim_deliveries(self, *, limit: int, now: datetime) -> list[Delivery]: ...
    async def mark_sent(
        self, delivery_id: int, *, now: datetime, message_id: int | None
    ) -> None: ...
    async def mark_failed(
        self, delivery_id: int, *, error: str, retry: bool, now: datetime
    ) -> None: ...
