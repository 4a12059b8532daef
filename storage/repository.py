"""`SqlStorage`: the `news.ports.Storage` interface on SQLAlchemy's asyncio API.

Each public method is one transaction and returns domain types. Full-text search, the one part
that differs by dialect, lives in `storage.search`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    Row,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncEngine

from news.model import Delivery, Source, Story, StoryDraft, Subscription
from news.topics import Topic
from storage.search import topic_clause
from storage.tables import chats, deliveries, sources, stories, subscriptions

_STORY_COLUMNS = (
    stories.c.id,
    stories.c.source_id,
    stories.c.title,
    stories.c.summary,
    stories.c.link,
    stories.c.published_at,
    stories.c.first_seen_at,
    stories.c.language,
    stories.c.terms,
    sources.c.title.label("source_title"),
    sources.c.url.label("source_url"),
)


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
    )


def _story(row: Any) -> Story:
    return Story(
        id=row.id,
        source_id=row.source_id,
        source_name=source_name(row.source_title, row.source_url),
        title=row.title,
        summary=row.summary,
        link=row.link,
        published_at=row.published_at,
        first_seen_at=row.first_seen_at,
        language=row.language,
        terms=frozenset(row.terms.split()),
    )


def source_name(title: str | None, url: str) -> str:
    """What readers see as a source's name: its feed title, else its host."""
    return title or urlsplit(url).hostname or url


class SqlStorage:
    """Newsbot's storage on one SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()

    # Sources ---------------------------------------------------------------------------------

    async def sync_sources(self, urls: Sequence[str], *, now: datetime) -> None:
        """Make the file-listed sources exactly `urls`; sources users added stay untouched."""
        wanted = list(dict.fromkeys(urls))
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(sources.c.url, sources.c.origin))).all()
            known = {row.url: row.origin for row in rows}
            gone = [url for url, origin in known.items() if origin == "file" and url not in wanted]
            if gone:
                await conn.execute(delete(sources).where(sources.c.url.in_(gone)))
            fresh = [url for url in wanted if url not in known]
            if fresh:
                await conn.execute(
                    insert(sources),
                    [self._new_source(url, "file", now) for url in fresh],
                )

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
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(sources).where(sources.c.url == url))).first()
            if row is None:
                await conn.execute(insert(sources).values(**self._new_source(url, origin, now)))
                row = (await conn.execute(select(sources).where(sources.c.url == url))).one()
            return _source(row)

    async def remove_source(self, url: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(sources).where(sources.c.url == url))
            return bool(result.rowcount)

    async def list_sources(self) -> list[Source]:
        counts = (
            select(stories.c.source_id, func.count().label("n"))
            .group_by(stories.c.source_id)
            .subquery()
        )
        query = (
            select(sources, func.coalesce(counts.c.n, 0).label("stories_count"))
            .outerjoin(counts, counts.c.source_id == sources.c.id)
            .order_by(sources.c.id)
        )
        async with self.engine.connect() as conn:
            return [_source(row, row.stories_count) for row in await conn.execute(query)]

    async def due_sources(self, now: datetime) -> list[Source]:
        query = (
            select(sources)
            .where(
                sources.c.enabled,
                or_(sources.c.next_poll_at.is_(None), sources.c.next_poll_at <= now),
            )
            .order_by(sources.c.next_poll_at, sources.c.id)
        )
        async with self.engine.connect() as conn:
            return [_source(row) for row in await conn.execute(query)]

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
    ) -> None:
        values: dict[str, Any] = {
            "last_polled_at": now,
            "last_success_at": now,
            "next_poll_at": next_poll_at,
            "error_count": 0,
            "last_error": None,
            "last_error_kind": None,
            "etag": etag,
            "last_modified": last_modified,
        }
        if title:
            values["title"] = title[:500]
        if content_hash:
            values["content_hash"] = content_hash
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(sources).where(sources.c.id == source_id).values(**values)
            )

    async def record_failure(
        self, source_id: int, *, now: datetime, next_poll_at: datetime, kind: str, message: str
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(sources)
                .where(sources.c.id == source_id)
                .values(
                    last_polled_at=now,
                    next_poll_at=next_poll_at,
                    last_error=message[:2000],
                    last_error_kind=kind[:50],
                    error_count=sources.c.error_count + 1,
                )
            )

    # Stories ---------------------------------------------------------------------------------

    async def store_stories(self, drafts: Sequence[StoryDraft], *, now: datetime) -> list[Story]:
        """Insert the drafts that are new; return them as stories, oldest first.

        A draft is not new when its source already has its entry id, or when any source already
        carries its link (one URL in two feeds is one story). A known entry whose headline
        changed is updated in place.
        """
        if not drafts:
            return []
        async with self.engine.begin() as conn:
            source_ids = {draft.source_id for draft in drafts}
            known_entries: dict[tuple[int, str], tuple[int, str]] = {}
            entry_ids = [draft.entry_id for draft in drafts]
            for chunk in _chunks(entry_ids, 500):
                rows = await conn.execute(
                    select(
                        stories.c.id, stories.c.source_id, stories.c.entry_id, stories.c.title
                    ).where(stories.c.source_id.in_(source_ids), stories.c.entry_id.in_(chunk))
                )
                for row in rows:
                    known_entries[(row.source_id, row.entry_id)] = (row.id, row.title)
            links = [draft.link for draft in drafts if draft.link]
            known_links: set[str] = set()
            for chunk in _chunks(links, 500):
                rows = await conn.execute(select(stories.c.link).where(stories.c.link.in_(chunk)))
                known_links.update(row.link for row in rows)

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
                                terms=" ".join(sorted(draft.terms)),
                            )
                        )
                    continue
                if key in seen_keys or (draft.link and draft.link in known_links):
                    continue
                seen_keys.add(key)
                if draft.link:
                    known_links.add(draft.link)
                fresh.append(draft)
            fresh.sort(key=lambda draft: draft.published_at)
            if not fresh:
                return []
            inserted = await conn.execute(
                insert(stories).returning(stories.c.id, sort_by_parameter_order=True),
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
                        "terms": " ".join(sorted(draft.terms)),
                    }
                    for draft in fresh
                ],
            )
            ids = [row.id for row in inserted]
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
                id=story_id,
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
            for story_id, draft in zip(ids, fresh, strict=True)
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
        query = select(*_STORY_COLUMNS).join(sources, sources.c.id == stories.c.source_id)
        if topic is not None:
            query = query.where(topic_clause(self.dialect, topic))
        if before is not None:
            published, story_id = before
            query = query.where(
                or_(
                    stories.c.published_at < published,
                    and_(stories.c.published_at == published, stories.c.id < story_id),
                )
            )
        query = query.order_by(stories.c.published_at.desc(), stories.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [_story(row) for row in await conn.execute(query)]

    # Chats and subscriptions -----------------------------------------------------------------

    async def upsert_chat(
        self, chat_id: int, *, kind: str, title: str | None, now: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            exists = (await conn.execute(select(chats.c.id).where(chats.c.id == chat_id))).first()
            if exists:
                await conn.execute(
                    sql_update(chats)
                    .where(chats.c.id == chat_id)
                    .values(kind=kind, title=title, active=True)
                )
            else:
                await conn.execute(
                    insert(chats).values(
                        id=chat_id,
                        kind=kind,
                        title=title,
                        active=True,
                        created_at=now,
                    )
                )

    async def set_chat_active(self, chat_id: int, active: bool) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sql_update(chats).where(chats.c.id == chat_id).values(active=active))

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
                delete(subscriptions).where(
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
        query = (
            select(subscriptions)
            .join(chats, chats.c.id == subscriptions.c.chat_id)
            .where(chats.c.active)
        )
        async with self.engine.connect() as conn:
            return [
                Subscription(row.chat_id, row.topic, row.created_at)
                for row in await conn.execute(query)
            ]

    # Outbox ----------------------------------------------------------------------------------

    async def enqueue_deliveries(
        self, items: Sequence[tuple[int, int, tuple[str, ...]]], *, now: datetime
    ) -> int:
        """Queue (chat, story, matched topics) rows; a chat already owed a story is skipped."""
        if not items:
            return 0
        async with self.engine.begin() as conn:
            story_ids = {story_id for _, story_id, _ in items}
            existing: set[tuple[int, int]] = set()
            for chunk in _chunks(sorted(story_ids), 500):
                rows = await conn.execute(
                    select(deliveries.c.chat_id, deliveries.c.story_id).where(
                        deliveries.c.story_id.in_(chunk)
                    )
                )
                existing.update((row.chat_id, row.story_id) for row in rows)
            fresh = [
                {
                    "chat_id": chat_id,
                    "story_id": story_id,
                    "topics": "\n".join(topics),
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for chat_id, story_id, topics in items
                if (chat_id, story_id) not in existing
            ]
            if fresh:
                await conn.execute(insert(deliveries), fresh)
            return len(fresh)

    async def claim_deliveries(self, *, limit: int, now: datetime) -> list[Delivery]:
        """Mark up to `limit` pending rows as sending and return them, oldest first."""
        async with self.engine.begin() as conn:
            pending = (
                select(deliveries.c.id)
                .join(chats, chats.c.id == deliveries.c.chat_id)
                .where(deliveries.c.state == "pending", chats.c.active)
                .order_by(deliveries.c.id)
                .limit(limit)
            )
            if self.dialect == "postgresql":
                pending = pending.with_for_update(skip_locked=True, of=deliveries)
            ids = [row.id for row in await conn.execute(pending)]
            if not ids:
                return []
            await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id.in_(ids))
                .values(state="sending", attempts=deliveries.c.attempts + 1, updated_at=now)
            )
            rows = await conn.execute(
                select(
                    deliveries.c.id.label("delivery_id"),
                    deliveries.c.chat_id,
                    deliveries.c.topics,
                    deliveries.c.state,
                    deliveries.c.attempts,
                    *_STORY_COLUMNS,
                )
                .join(stories, stories.c.id == deliveries.c.story_id)
                .join(sources, sources.c.id == stories.c.source_id)
                .where(deliveries.c.id.in_(ids))
                .order_by(deliveries.c.id)
            )
            return [
                Delivery(
                    id=row.delivery_id,
                    chat_id=row.chat_id,
                    story=_story(row),
                    topics=tuple(row.topics.split("\n")),
                    state=row.state,
                    attempts=row.attempts,
                )
                for row in rows
            ]

    async def mark_sent(self, delivery_id: int, *, now: datetime, message_id: int | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(state="sent", message_id=message_id, updated_at=now, last_error=None)
            )

    async def mark_failed(
        self, delivery_id: int, *, error: str, retry: bool, now: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    state="pending" if retry else "failed",
                    last_error=error[:2000],
                    updated_at=now,
                )
            )

    async def delivery_states(self) -> dict[str, int]:
        """How many outbox rows are in each state (for operators and tests)."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        async with self.engine.connect() as conn:
            return {row[0]: row[1] for row in await conn.execute(query)}


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
