"""The storage interface the domain needs, declared here so that handlers never import SQL.

`storage.SqlStorage` implements it; every method is one transaction and returns the domain's
plain types, with timezone-aware UTC datetimes. A method the database fails raises
`news.errors.StorageError`, never the database driver's own exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from news.cluster_state import ClusterState, ClusterWork
from news.model import (
    ChatSettings,
    ClusterAssignment,
    Cursor,
    Delivery,
    PreviewMode,
    PushedMessage,
    SentRow,
    Source,
    Story,
    StoryDraft,
    Subscription,
    TopicMatch,
)
from news.operations import OperationsStatus
from news.sources import SourcesPlan
from news.topics import Topic


@dataclass(frozen=True, slots=True)
class PollRecord:
    """What one poll changes in its source's row: a failure if `error_kind` is set, else a success.

    A success keeps what the poll learnt (validators, body hash, intervals, title when given) and
    clears the error state; `url` is where the feed moved permanently. A failure counts one more
    error, and `disable` stops polling the source (the feed is gone).
    """

    source_id: int
    now: datetime
    next_poll_at: datetime
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    poll_interval: timedelta | None = None
    target_interval: timedelta | None = None
    url: str | None = None
    error_kind: str | None = None
    error: str = ""
    disable: bool = False


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one retention run deleted, and in how many transactions (batches)."""

    deliveries: int = 0
    chats: int = 0
    stories: int = 0
    batches: int = 0

    def __add__(self, other: PruneReport) -> PruneReport:
        return PruneReport(
            self.deliveries + other.deliveries,
            self.chats + other.chats,
            self.stories + other.stories,
            self.batches + other.batches,
        )

    def __bool__(self) -> bool:
        return bool(self.deliveries or self.chats or self.stories)


class Storage(Protocol):
    """Everything Newsbot keeps: sources, stories, chats, subscriptions and the outbox."""

    # Sources
    async def sync_sources(
        self, urls: Sequence[str], *, now: datetime, file: str | None = None
    ) -> SourcesPlan: ...
    async def sources_file(self) -> str | None: ...
    async def add_source(self, url: str, *, now: datetime, origin: str = "user") -> Source: ...
    async def remove_source(self, url: str) -> Source | None: ...
    async def list_sources(self) -> list[Source]: ...
    async def claim_due_sources(
        self, now: datetime, *, lease_until: datetime, limit: int = 1000
    ) -> list[Source]: ...
    async def record_outcomes(self, records: Sequence[PollRecord]) -> None: ...

    # Stories
    async def store_stories(
        self, drafts: Sequence[StoryDraft], *, now: datetime
    ) -> list[Story]: ...
    async def latest(
        self, topic: Topic | None, *, limit: int, before: Cursor | None = None
    ) -> list[Story]: ...
    async def story(self, story_id: int) -> Story | None: ...

    # Clusters
    async def assign_clusters(
        self, assignments: Sequence[ClusterAssignment], *, now: datetime
    ) -> None: ...
    async def cluster_state(
        self,
        *,
        open_since: datetime | None = ...,
        open_until: datetime | None = ...,
        after_version: int = ...,
    ) -> ClusterState: ...
    def cluster_state_pages(
        self, *, open_since: datetime, page: int = ...
    ) -> AsyncIterator[ClusterState]: ...
    async def cluster_turn(
        self, after_version: int, work: ClusterWork, *, now: datetime
    ) -> int: ...
    async def unclustered_since(self, since: datetime, *, limit: int) -> list[Story]: ...
    async def unclustered_before(self, before: datetime, *, limit: int) -> list[Story]: ...
    async def cluster_members(
        self, cluster_ids: Sequence[int], *, bodies: bool = ...
    ) -> dict[int, list[Story]]: ...

    # Chats and subscriptions
    async def upsert_chat(
        self, chat_id: int, *, kind: str, title: str | None, now: datetime
    ) -> None: ...
    async def deactivate_chat(self, chat_id: int, *, reason: str, now: datetime) -> int: ...
    async def chat_settings(self, chat_id: int) -> ChatSettings | None: ...
    async def set_paused(self, chat_id: int, paused: bool) -> None: ...
    async def set_digest(self, chat_id: int, digest_time: str | None) -> None: ...
    async def set_timezone(self, chat_id: int, timezone: str) -> None: ...
    async def set_language(self, chat_id: int, language: str) -> None: ...
    async def set_preview(self, chat_id: int, preview: PreviewMode) -> None: ...
    async def set_silent(self, chat_id: int, silent: bool) -> None: ...
    async def set_quiet_hours(self, chat_id: int, start: int | None, end: int | None) -> None: ...
    async def set_chosen_language(self, chat_id: int, language: str | None) -> None: ...
    async def chat_push_settings(self, chat_ids: Sequence[int]) -> dict[int, ChatSettings]: ...
    async def digest_chats(self) -> list[ChatSettings]: ...
    async def migrate_chat(self, old_id: int, new_id: int, *, now: datetime) -> None: ...
    async def subscribe(
        self, chat_id: int, topic: str, *, now: datetime, thread_id: int = ...
    ) -> bool: ...
    async def unsubscribe(self, chat_id: int, topic: str, *, thread_id: int = ...) -> bool: ...
    async def subscriptions(
        self, chat_id: int, *, thread_id: int | None = ...
    ) -> list[Subscription]: ...
    async def end_thread(
        self, chat_id: int, thread_id: int, *, reason: str, now: datetime
    ) -> int: ...
    async def active_subscriptions(self) -> list[Subscription]: ...

    # Outbox
    async def enqueue_deliveries(self, items: Sequence[TopicMatch], *, now: datetime) -> int: ...
    async def claim_deliveries(
        self,
        *,
        limit: int,
        now: datetime,
        lease: timedelta = ...,
        chat_id: int | None = None,
        digest_retries: bool = False,
    ) -> list[Delivery]: ...
    async def mark_sent_many(self, sent: Sequence[SentRow], *, now: datetime) -> None: ...
    async def mark_failed(
        self, ids: Sequence[int], *, error: str, now: datetime, retry_at: datetime | None = ...
    ) -> None: ...
    async def hold_deliveries(
        self, ids: Sequence[int], *, until: datetime, now: datetime
    ) -> None: ...
    async def delivery_topics(
        self, chat_id: int, story_id: int, *, thread_id: int = ...
    ) -> tuple[str, ...]: ...

    # "Also:" edits of pushed cards
    async def claim_edits(self, now: datetime, *, limit: int = ...) -> list[PushedMessage]: ...
    async def mark_edited(
        self, delivery_id: int, *, shown: Sequence[str] | None, now: datetime, edited: bool = ...
    ) -> None: ...
    async def retry_edit(self, delivery_id: int, *, at: datetime) -> None: ...

    # Operations: /healthz, /metrics, /status and the report of sources failing for a day
    async def ping(self) -> None: ...
    async def operations_status(
        self, now: datetime, *, failing_listed: int = ...
    ) -> OperationsStatus: ...
    async def claim_failing_reports(
        self, *, failing_before: datetime, now: datetime
    ) -> list[Source]: ...

    # Retention
    async def prune(
        self, before: datetime, *, batch: int = ..., pause: float = ...
    ) -> PruneReport: ...
