"""`SqlStorage`: the `news.ports.Storage` interface on SQLAlchemy's asyncio API.

It is composed of one part per aggregate, each over the shared `storage.base.StorageBase`, the
way lemon24/reader composes its storage:

    sources     feeds, their claims by pollers, poll records, the sources file synced last
    stories     new stories kept once, /latest and full-text search (`storage.search`)
    articles    the articles of teaser stories, their key points and the claims to read them
    clusters    each story's event, and the reports of each event
    coverage    each event's outlets, kept as it changes: list entries, cards, paging
    chats       chats, their settings and subscriptions
    outbox      what each chat is owed: claims, sends, failures, and "Also:" edits
    retention   pruning the archive to its window in small batches
    operations  what /healthz, /metrics and /status ask of the database

Each public method is one transaction and returns domain types; the database's errors leave it
as `news.errors.StorageError`.
"""

from __future__ import annotations

from storage.articles import ArticleStore
from storage.chats import ChatStore
from storage.clusters import ClusterStore
from storage.coverage import CoverageStore
from storage.listing import ListingStore
from storage.operations import Operations
from storage.outbox import Outbox
from storage.retention import Retention
from storage.sources import SourceStore
from storage.stories import StoryStore


class SqlStorage(
    SourceStore,
    StoryStore,
    ArticleStore,
    ClusterStore,
    CoverageStore,
    ListingStore,
    ChatStore,
    Outbox,
    Retention,
    Operations,
):
    """Newsbot's storage on one SQLAlchemy async engine."""
