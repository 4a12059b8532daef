"""The polling pipeline: claim due sources, fetch, parse and store them, queue matching pushes.

`Poller` runs the steps; what each poll records for its source and when the source is polled
next is decided by `news.polling.decide` (pure), clusters are kept by
`news.polling.cluster_keeper`, and writes are grouped by `news.batching`. Fetching and storage are
handed in, and time is always a parameter, so the whole cycle runs in tests against a loopback feed
server and a real database.

Rules a reader notices:
- the first successful poll of a source stores its stories (searchable) but pushes none of them,
  so adding a source or starting the bot never floods anyone with old news;
- a story is pushed only if it is new to the database (not carried already by another source),
  still news (`news.delivery.pushable`), and matches at least one of the chat's subscriptions;
- one chat gets one message per story, naming every topic of its own that matched, and one per
  event: each new story joins a cluster of reports of its event (`news.events.clustering`, when the
  poller has a clusterer), and a chat already owed the event gets no second push (storage marks
  the pushed card for an "Also:" edit instead);
- a 304 or a body whose hash is the last one costs no parse; a permanent redirect moves the
  source's URL; 410 Gone disables it; other failures back off (see `news.polling.decide`).

Writes are grouped (`news.batching`): the stories and outcomes of sources that finish while a
write runs go to storage together in the next one, so a busy tick costs a few transactions, not
two per source; each poll still returns only once its own writes are done.

No source can stall another: what a feed says is fitted to the schema (`news.feeds.fitting`) before
it is written; a group write that fails anyway is tried again one source at a time, so only the
source whose write fails loses its poll; and any exception while fetching, parsing or storing
one source becomes that source's recorded error, with backoff. A tick never raises for a source.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from news.batching import GroupCommit, WriteFailed
from news.delivery import pushable
from news.errors import FeedError
from news.feeds import fit_record
from news.feeds.fetch import Fetcher, FetchResult
from news.feeds.offload import BULK_SOURCES, LARGE_FEED_BYTES, parse_in_chunks, unpickle_chunks
from news.model import (
    PollOutcome,
    PollRecord,
    Source,
    Story,
    StoryDraft,
    Subscription,
    TopicMatch,
)
from news.policy import CLUSTER_WINDOW, POLL_BACKOFF_CAP, POLL_CEILING, POLL_FLOOR
from news.polling import decide
from news.polling.cluster_keeper import ClusterKeeper
from news.polling.schedule import ScheduleSettings
from news.ports import Chats, Clusters, Outbox, Sources, Stories
from news.topics.percolator import SubscriptionIndex

if TYPE_CHECKING:
    import numpy
    from numpy.typing import NDArray

    from news.events.clustering import Clusterer
    from news.feeds.parse import ParsedFeed
    from news.meaning import SentenceEncoder

logger = logging.getLogger(__name__)

#: The most drafts stored in one transaction (what a write holds the event loop for).
STORE_SLICE = 1000
#: Stories of the window whose meaning `cluster_backlog` computes at most per call (newest
#: first): a first poll's backlog and stories stored before meanings were kept catch up over
#: a few ticks without holding a core for minutes.
MEANING_BACKLOG = 1000
#: Stories read, encoded and stored at a time by the backlog: a slice's texts and vectors are
#: all that is held at once.
MEANING_SLICE = 250
# A gate that lets every source through: `poll_source` called on its own.
_UNBOUNDED: AbstractAsyncContextManager[object] = nullcontext()


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How often sources are polled (floor and ceiling of the schedule) and how many at once."""

    interval: timedelta = POLL_FLOOR
    ceiling: timedelta = POLL_CEILING
    concurrency: int = 16
    backoff_cap: timedelta = POLL_BACKOFF_CAP

    @property
    def schedule(self) -> ScheduleSettings:
        return ScheduleSettings(
            floor=self.interval,
            ceiling=max(self.ceiling, self.interval),
            backoff_cap=self.backoff_cap,
        )


def match_subscriptions(
    new_stories: Sequence[Story],
    subscriptions: Sequence[Subscription],
    now: datetime,
    *,
    index: SubscriptionIndex | None = None,
    meanings: Mapping[int, NDArray[numpy.float32]] | None = None,
) -> list[TopicMatch]:
    """Which chat is owed which story, and for which of its topics.

    `index` is a percolator kept across calls (the poller keeps one), so only changed
    subscriptions are indexed again; without it one is built for this call. `meanings` are
    the stories' vectors (`news.meaning`) by id, for topics across languages; a story without
    one is matched by its words alone.
    """
    # Not `index or …`: an index that follows nothing yet is empty, hence false.
    index = index if index is not None else SubscriptionIndex()
    index.sync(subscriptions)
    fresh = [story for story in new_stories if pushable(story.published_at, now)]
    index.observe(story.terms for story in fresh)
    vectors = meanings or {}
    meant = [story for story in fresh if story.id in vectors]
    judged: dict[int, tuple[set[str], set[str]]] = {}
    if meant:
        import numpy

        stacked = numpy.stack([vectors[story.id] for story in meant])
        index.across.observe(stacked, [story.language for story in meant])
        if len(index.across):
            results = index.across.matching_many(
                stacked,
                [story.language for story in meant],
                [story.terms for story in meant],
                [story.source_name for story in meant],
            )
            judged = {story.id: result for story, result in zip(meant, results, strict=True)}
    owed: list[TopicMatch] = []
    for story in fresh:
        matched = index.matching_places(
            story.terms, source=story.source_name, language=story.language
        )
        if story.id in judged:
            matched = index.across_languages(
                matched, vectors[story.id], judged[story.id], story.language
            )
        owed.extend(
            TopicMatch(chat, story.id, tuple(topics), thread)
            for (chat, thread), topics in matched.items()
        )
    return owed


class WantsArticles(Protocol):
    """Who reads the articles of pushed teasers (`news.articles.keeping.ArticleKeeper`)."""

    async def want(self, stories: Sequence[Story], now: datetime) -> int: ...


class NotesHosts(Protocol):
    """The per-host pace article reads keep (`news.articles.HostPace`): a feed's poll counts."""

    def note(self, host: str) -> None: ...


class PollStorage(Sources, Stories, Clusters, Chats, Outbox, Protocol):
    """What a poll touches: sources claimed and recorded, stories stored and clustered, and the
    pushes they owe the chats that follow them."""


class Poller:
    """Polls sources and turns what they publish into stored stories and queued pushes.

    `parse_executor` runs the CPU-bound parsing of every feed: a process pool uses every core.
    Without one, feeds parse in a thread, except those over `LARGE_FEED_BYTES` and every feed of
    a call that polls more than `BULK_SOURCES` sources, which go to `offload_executor` when
    there is one (see `news.feeds.offload`). `rng` drives the schedule's jitter (seeded in tests).

    `articles` learns which stories were queued for pushing, to read the pages of the teasers
    among them after the poll (never before a push); `pace` is told of each feed's request, so
    that reading a host's pages keeps its pace with the host's feed polls.
    """

    def __init__(
        self,
        storage: PollStorage,
        fetcher: Fetcher,
        settings: PollSettings,
        *,
        parse_executor: Executor | None = None,
        offload_executor: Executor | None = None,
        rng: random.Random | None = None,
        clusterer: Clusterer | None = None,
        articles: WantsArticles | None = None,
        pace: NotesHosts | None = None,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.storage = storage
        self.articles = articles
        self.pace = pace
        self.fetcher = fetcher
        self.settings = settings
        self.schedule = settings.schedule
        self._parse_executor = parse_executor
        self._offload_executor = offload_executor
        self._rng = rng or random.Random()
        self._lock = asyncio.Lock()
        # One write at a time from this poller: SQLite has one writer anyway, and concurrent
        # writers there would wait on its busy timeout instead of queueing here.
        self._writes = asyncio.Lock()
        self._records = GroupCommit(self._record_all, self._writes)
        self._stories = GroupCommit(self._store_all, self._writes)
        self.subscription_index = SubscriptionIndex()
        self.clusters = ClusterKeeper(storage, clusterer) if clusterer is not None else None
        # The process's encoder unless one is handed in; taken (and its model loaded) when the
        # first meaning is computed, so a start and a cold poll pay nothing for it.
        self._encoder = encoder
        self._background_read = False

    async def poll_due(self, now: datetime) -> list[PollOutcome]:
        """Claim the sources whose next poll time has come and poll them; one tick at a time."""
        if self._lock.locked():
            return []  # the previous tick is still running; its sources are claimed anyway
        async with self._lock:
            claimed = await self.storage.claim_due_sources(
                now, lease_until=now + self.schedule.lease
            )
            return await self.poll_sources(claimed, now)

    async def poll_sources(
        self,
        sources: Sequence[Source],
        now: datetime,
        on_done: Callable[[PollOutcome], None] | None = None,
    ) -> list[PollOutcome]:
        """Poll `sources` concurrently; one failing source never stops the others."""
        gate = asyncio.Semaphore(self.settings.concurrency)
        # Many sources at once: parsing is most of the work, so it goes to the worker processes.
        bulk = len(sources) > BULK_SOURCES

        async def one(source: Source) -> PollOutcome:
            outcome = await self.poll_source(source, now, offload=bulk, gate=gate)
            if on_done is not None:
                on_done(outcome)
            return outcome

        return list(await asyncio.gather(*(one(source) for source in sources)))

    async def poll_source(
        self,
        source: Source,
        now: datetime,
        *,
        offload: bool = False,
        gate: asyncio.Semaphore | None = None,
    ) -> PollOutcome:
        """Fetch, parse and store one source, and queue pushes for its new stories; `offload`
        parses it in the offload executor whatever its size.

        `gate` bounds how many sources are fetched, parsed and stored at once. The poll's record
        (a small write) is waited for outside it, so that when every feed answers 304 the
        records of many sources share one write rather than `concurrency` of them.

        Whatever goes wrong becomes this source's recorded error; nothing is raised.
        """
        try:
            return await self._poll_source(source, now, offload, gate or _UNBOUNDED)
        except Exception as exc:
            if isinstance(exc, WriteFailed):
                error = FeedError(str(exc), kind="storage")
            else:  # a bug: say where, and keep polling the others
                logger.error("polling %s failed unexpectedly", source.url, exc_info=exc)
                error = FeedError(f"internal error: {type(exc).__name__}: {exc}", kind="internal")
            try:
                return await self._failed(source, error, now)
            except Exception as unrecorded:
                # Storage refuses even the error: the source's claim runs out and it is polled
                # again after the lease.
                return PollOutcome(
                    source.url,
                    "error",
                    error=f"{error} (not recorded: {type(unrecorded).__name__})",
                    error_kind=error.kind,
                )

    async def _poll_source(
        self,
        source: Source,
        now: datetime,
        offload: bool,
        gate: AbstractAsyncContextManager[object],
    ) -> PollOutcome:
        async with gate:
            if self.pace is not None and (host := urlsplit(source.url).hostname):
                self.pace.note(host)
            try:
                fetched = await self.fetcher.fetch(
                    source.url, etag=source.etag, last_modified=source.last_modified
                )
                content_hash = decide.body_hash(fetched)
                same = decide.unchanged(
                    source, fetched, content_hash, now, self.schedule, self._rng
                )
                if same is not None:
                    decision, outcome = same, same.outcome(source.url)
                else:
                    feed = await self._parse(fetched, now, offload)
            except FeedError as error:
                decision = decide.failed(source, error, now, self.schedule, self._rng)
                outcome = decision.outcome(source.url)
            else:
                if same is None:
                    drafts = [entry.draft(source.id) for entry in feed.entries]
                    new_stories, queued = await self._stories.submit((source, drafts, now))
                    decision = decide.parsed(
                        source, fetched, feed, content_hash, now, self.schedule, self._rng
                    )
                    outcome = decision.outcome(
                        source.url,
                        new_story_ids=[story.id for story in new_stories],
                        seen_entries=len(feed.entries),
                        queued_deliveries=queued,
                    )
        await self._records.submit(decision.record)
        return outcome

    async def _store_all(
        self, items: list[tuple[Source, list[StoryDraft], datetime]]
    ) -> list[tuple[list[Story], int]]:
        """Store the drafts of many polls at once; per poll, its new stories and queued pushes."""
        new_by_source: dict[int, list[Story]] = defaultdict(list)
        meanings: dict[int, NDArray[numpy.float32]] = {}
        pushing = {source.id for source, _, _ in items if source.last_success_at is not None}
        for now in dict.fromkeys(now for _, _, now in items):
            drafts = [draft for _, batch, when in items if when == now for draft in batch]
            stored: list[Story] = []
            # In slices: one huge feed must not hold the event loop for the whole of its rows.
            for start in range(0, len(drafts), STORE_SLICE):
                slice_ = drafts[start : start + STORE_SLICE]
                stored += await self.storage.store_stories(slice_, now=now)
            stored.sort(key=lambda story: (story.published_at, story.id))
            for story in stored:
                new_by_source[story.source_id].append(story)
            # Stories that may be pushed get their meanings and are clustered now, before
            # matching; a first poll's backlog (never pushed) waits for `cluster_backlog`, off
            # the poll's path.
            pushable = [story for story in stored if story.source_id in pushing]
            meanings.update(
                await self._meanings([(story.id, story.title, story.summary) for story in pushable])
            )
            if self.clusters is not None:
                await self.clusters.place(pushable, now, meanings=meanings)
        subscriptions: list[Subscription] | None = None
        results: list[tuple[list[Story], int]] = []
        for source, _, now in items:
            # pop: a source polled twice in one group gets its new stories once.
            new_stories = new_by_source.pop(source.id, [])
            queued = 0
            if source.last_success_at is not None and new_stories:
                if subscriptions is None:
                    subscriptions = await self.storage.active_subscriptions()
                    await self._topic_meanings(subscriptions, now)
                owed = match_subscriptions(
                    new_stories,
                    subscriptions,
                    now,
                    index=self.subscription_index,
                    meanings=meanings,
                )
                queued = await self.storage.enqueue_deliveries(owed, now=now)
                if owed:
                    await self._want_articles(new_stories, {match.story_id for match in owed}, now)
            results.append((new_stories, queued))
        return results

    async def _topic_meanings(self, subscriptions: Sequence[Subscription], now: datetime) -> None:
        """Encode the followed topics not encoded yet (in a thread), for matching stories in
        other languages by meaning; the first time, the background of recent stories' meanings
        is read too. A failing encoder costs matching by meaning, nothing else."""
        across = self.subscription_index.across
        wanting = across.wanting(subscription.topic for subscription in subscriptions)
        readers: dict[str, str | None] = {}
        for subscription in subscriptions:
            readers.setdefault(subscription.topic, subscription.language)
        if not wanting:
            return
        from news.meaning import default_encoder, unpack
        from news.topics.meanings import BACKGROUND_STORIES, meaning_texts, topic_meaning

        try:
            if not self._background_read:
                self._background_read = True
                recent = await self.storage.recent_meanings(
                    now - CLUSTER_WINDOW, limit=BACKGROUND_STORIES
                )
                oldest_first = list(reversed(recent))
                across.observe(
                    unpack([blob for _, _, blob in oldest_first]),
                    [language for _, language, _ in oldest_first],
                )
            encoder = self._encoder = self._encoder or default_encoder()
            for topic in wanting:
                alternatives, excluded = meaning_texts(topic)
                vectors = await asyncio.to_thread(encoder.encode, alternatives + excluded)
                meaning = topic_meaning(vectors, len(alternatives))
                across.add(topic, meaning, reader=readers.get(topic.text))
        except Exception as error:
            logger.warning("topics' meanings not computed: %r", error)

    async def _want_articles(
        self, stories: Sequence[Story], pushed: set[int], now: datetime
    ) -> None:
        """Tell the article keeper which stories are being pushed; its failure costs no push."""
        if self.articles is None:
            return
        try:
            await self.articles.want([story for story in stories if story.id in pushed], now)
        except Exception as error:
            logger.warning("articles of pushed stories not marked for reading: %s", error)

    async def _meanings(
        self,
        stories: Sequence[tuple[int, str, str]],
        *,
        writes: AbstractAsyncContextManager[object] = _UNBOUNDED,
    ) -> dict[int, NDArray[numpy.float32]]:
        """The meanings of `stories` (id, title, summary) by id, computed in a thread and
        stored (holding `writes`).

        A failing encoder costs the stories their meanings, nothing else: they are stored,
        clustered and matched by their words, and the backlog tries them again later.
        """
        if not stories:
            return {}
        try:
            # All of it in the thread, even the import: numpy and the model load there, not on
            # the event loop.
            rows, blobs = await asyncio.to_thread(self._encode, stories)
        except Exception as error:
            logger.warning("meanings of %d stories not computed: %r", len(stories), error)
            return {}
        try:
            async with writes:
                await self.storage.store_meanings(
                    [(story[0], blob) for story, blob in zip(stories, blobs, strict=True)]
                )
        except Exception as error:
            logger.warning("meanings of %d stories not stored: %r", len(stories), error)
        return {story[0]: row for story, row in zip(stories, rows, strict=True)}

    def _encode(
        self, stories: Sequence[tuple[int, str, str]]
    ) -> tuple[Sequence[NDArray[numpy.float32]], list[bytes]]:
        """The stories' vectors and their packed bytes (in a worker thread)."""
        from news.meaning import default_encoder, pack, story_meaning_text

        encoder = self._encoder = self._encoder or default_encoder()
        vectors = encoder.encode([story_meaning_text(title, lead) for _, title, lead in stories])
        return list(vectors), pack(vectors)

    async def cluster_backlog(self, now: datetime, *, batch: int = 2000) -> int:
        """Cluster the stored stories of the window that are not clustered yet; how many.

        Those are the backlogs of sources' first polls (stored and searchable at once, never
        pushed) and whatever a crash left between storing and clustering. The scheduler calls
        this after each tick; `/latest` lists such stories one by one until it has run.

        First up to `MEANING_BACKLOG` stories of the window that have no meaning get one, newest
        first (a first poll's backlog, and stories stored before meanings were kept), so that
        those clustered here are linked across languages too.
        """
        # Meanings first: the stories that get one are linked across languages as clustered.
        await self.meaning_backlog(now)
        clustered = 0
        if self.clusters is not None:
            async with self._writes:
                clustered = await self.clusters.backlog(now, batch=batch)
        return clustered

    async def meaning_backlog(self, now: datetime, *, limit: int = MEANING_BACKLOG) -> int:
        """Compute the meanings of up to `limit` stories of the window that have none, newest
        first, `MEANING_SLICE` at a time; how many got one."""
        done = 0
        while done < limit:
            try:
                waiting = await self.storage.meaningless_since(
                    now - CLUSTER_WINDOW, limit=min(MEANING_SLICE, limit - done)
                )
            except Exception as error:
                logger.warning("stories without meanings not read: %r", error)
                break
            got = len(await self._meanings(waiting, writes=self._writes)) if waiting else 0
            if not got:  # none left, or the encoder failed: the next call tries again
                break
            done += got
        return done

    async def _record_all(self, records: list[PollRecord]) -> list[None]:
        await self.storage.record_outcomes([fit_record(record) for record in records])
        return [None] * len(records)

    async def _parse(self, fetched: FetchResult, now: datetime, offload: bool) -> ParsedFeed:
        # feedparser is CPU-bound: parse off the event loop so the bot keeps answering.
        executor = self._parse_executor
        if executor is None and (offload or len(fetched.body) > LARGE_FEED_BYTES):
            executor = self._offload_executor
        if executor is None:
            # Imported on use: a poll whose feeds all answer 304, or whose feeds all parse in
            # worker processes, never loads the feed parser in this process.
            from news.feeds.parse import parse_feed

            return await asyncio.to_thread(
                parse_feed, fetched.body, url=fetched.url, headers=fetched.headers, now=now
            )
        # Stories come back in pickled batches, unpickled between turns of the loop.
        job = partial(
            parse_in_chunks, fetched.body, url=fetched.url, headers=fetched.headers, now=now
        )
        feed, chunks = await asyncio.get_running_loop().run_in_executor(executor, job)
        return await unpickle_chunks(feed, chunks)

    async def _failed(self, source: Source, error: FeedError, now: datetime) -> PollOutcome:
        decision = decide.failed(source, error, now, self.schedule, self._rng)
        await self._records.submit(decision.record)
        return decision.outcome(source.url)
