"""Polling: fetch due sources, store their new stories, queue pushes for matching subscriptions.

`Poller` holds the decisions; fetching and storage are handed in, and time is always a parameter,
so the whole cycle runs in tests against a loopback feed server and a real database.

Rules a reader notices:
- the first successful poll of a source stores its stories (searchable) but pushes none of them,
  so adding a source or starting the bot never floods anyone with old news;
- a story is pushed only if it is new to the database (not carried already by another source),
  not older than `PUSH_MAX_AGE`, and matches at least one of the chat's subscriptions;
- one chat gets one message per story, naming every topic of its own that matched.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from news.errors import FeedError
from news.fetch import Fetcher
from news.model import PollOutcome, Source, Story, StoryDraft, Subscription
from news.parse import parse_feed
from news.ports import Storage
from news.topics import Topic, parse_topic

PUSH_MAX_AGE = timedelta(hours=24)
ERROR_BACKOFF_CAP = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How often sources are polled."""

    interval: timedelta = timedelta(seconds=300)
    concurrency: int = 8


def match_subscriptions(
    new_stories: Sequence[Story], subscriptions: Sequence[Subscription], now: datetime
) -> list[tuple[int, int, tuple[str, ...]]]:
    """Which chat is owed which story, and for which of its topics: (chat, story, topics)."""
    topics: dict[str, Topic] = {}
    chats_by_topic: dict[str, list[int]] = defaultdict(list)
    for subscription in subscriptions:
        if subscription.topic not in topics:
            topics[subscription.topic] = parse_topic(subscription.topic)
        chats_by_topic[subscription.topic].append(subscription.chat_id)
    owed: list[tuple[int, int, tuple[str, ...]]] = []
    for story in new_stories:
        if now - story.published_at > PUSH_MAX_AGE:
            continue
        matched: dict[int, list[str]] = defaultdict(list)
        for text, topic in topics.items():
            if topic.matches(story.terms):
                for chat_id in chats_by_topic[text]:
                    matched[chat_id].append(text)
        owed.extend((chat_id, story.id, tuple(names)) for chat_id, names in matched.items())
    return owed


def backoff(error_count: int, interval: timedelta) -> timedelta:
    """Delay before retrying a failing source: doubles with each failure, capped."""
    delay: timedelta = interval * (2 ** min(error_count, 16))
    return min(delay, max(ERROR_BACKOFF_CAP, interval))


class Poller:
    """Polls sources and turns what they publish into stored stories and queued pushes."""

    def __init__(
        self,
        storage: Storage,
        fetcher: Fetcher,
        settings: PollSettings,
    ) -> None:
        self.storage = storage
        self.fetcher = fetcher
        self.settings = settings
        self._lock = asyncio.Lock()

    async def poll_due(self, now: datetime) -> list[PollOutcome]:
        """Poll every source whose next poll time has come; one tick at a time."""
        if self._lock.locked():
            return []  # the previous tick is still running; its sources are not due twice
        async with self._lock:
            return await self.poll_sources(await self.storage.due_sources(now), now)

    async def poll_sources(
        self,
        sources: Sequence[Source],
        now: datetime,
        on_done: Callable[[PollOutcome], None] | None = None,
    ) -> list[PollOutcome]:
        """Poll `sources` concurrently; one failing source never stops the others."""
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(source: Source) -> PollOutcome:
            async with gate:
                outcome = await self.poll_source(source, now)
            if on_done is not None:
                on_done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(source) for source in sources)))

    async def poll_source(self, source: Source, now: datetime) -> PollOutcome:
        """Fetch, parse and store one source, and queue pushes for its new stories."""
        interval = self.settings.interval
        try:
            fetched = await self.fetcher.fetch(
                source.url, etag=source.etag, last_modified=source.last_modified
            )
            if fetched.not_modified:
                await self.storage.record_success(
                    source.id,
                    now=now,
                    next_poll_at=now + interval,
                    etag=source.etag,
                    last_modified=source.last_modified,
                )
                return PollOutcome(source.url, "not-modified")
            body_hash = hashlib.sha256(fetched.body).hexdigest()
            if body_hash == source.content_hash:
                await self.storage.record_success(
                    source.id,
                    now=now,
                    next_poll_at=now + interval,
                    etag=fetched.etag,
                    last_modified=fetched.last_modified,
                )
                return PollOutcome(source.url, "unchanged")
            # feedparser is CPU-bound: parse off the event loop so the bot keeps answering.
            feed = await asyncio.to_thread(
                parse_feed, fetched.body, url=fetched.url, headers=fetched.headers, now=now
            )
        except FeedError as error:
            await self.storage.record_failure(
                source.id,
                now=now,
                next_poll_at=now + backoff(source.error_count, interval),
                kind=error.kind,
                message=str(error),
            )
            return PollOutcome(source.url, "error", error=str(error))

        drafts = [
            StoryDraft(
                source_id=source.id,
                entry_id=entry.entry_id,
                title=entry.title,
                summary=entry.summary,
                link=entry.link,
                published_at=entry.published_at,
                language=entry.language,
                terms=entry.terms,
            )
            for entry in feed.entries
        ]
        new_stories = await self.storage.store_stories(drafts, now=now)
        queued = 0
        if source.last_success_at is not None and new_stories:
            owed = match_subscriptions(new_stories, await self.storage.active_subscriptions(), now)
            queued = await self.storage.enqueue_deliveries(owed, now=now)
        await self.storage.record_success(
            source.id,
            now=now,
            next_poll_at=now + interval,
            title=feed.title,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            content_hash=body_hash,
        )
        return PollOutcome(
            source.url,
            "ok",
            new_stories=len(new_stories),
            seen_entries=len(feed.entries),
            queued_deliveries=queued,
            new_story_ids=[story.id for story in new_stories],
        )
