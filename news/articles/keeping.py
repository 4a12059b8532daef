"""Keeping stories' articles: which are read, when, how often, and what a card waits for.

The design (README, "Article text"):

- **Pushed teasers, in the background.** When the poller queues pushes, the stories pushed
  whose feed text is a teaser (`needs_article`) are marked wanted (`ArticleKeeper.want`, one
  small write); the poll role's `articles` loop claims what is due each second and reads it
  beside the polls, a few at a time. A push never waits for its article: the two meet only in
  storage, and the card is usually ready before a reader presses **More**.
- **Any other card, on demand.** A card opened for a teaser whose article was never tried (a
  story from a digest, or pushed while reading was off) starts reading it and waits at most
  `CARD_WAIT`; if the page is slower the card goes out as it is, and the read goes on, so the
  next opening finds it. A card whose article is being read in this process waits for that read
  the same way. At most `ON_DEMAND_READS` such reads run at once: a crowd opening cards never
  queues more pages than that.
- **Tried again only when it can help** (`after_reading`): a paywall, robots.txt's no, a page
  that is no web page, has no article text, is too large, too complex, off the feed's site or on
  a private address never changes by asking again; a timeout, a network error, an error status
  or a host that asked us to wait (429/503, Retry-After) is tried again after `RETRY_DELAY`,
  then four times that (or the host's Retry-After when longer), `MAX_ATTEMPTS` in all, then
  never.

Reads are claimed in storage with a lease (`READ_LEASE`, well over a read's own deadline), so
several pollers never read one page twice at once, and the claims of a process that died are
read again when their lease ends. Pace and robots.txt are the reader's (`news.articles`): one
`HostPace` is shared with the feed polls of the same process.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from news.articles.model import Article, ArticleUnavailable
from news.articles.sites import host_of, registrable_domain
from news.articles.teaser import needs_article
from news.errors import StorageError
from news.feeds.text import cut_at_word
from news.model import ArticleJob, Story, StoryArticle
from news.ports import Articles

logger = logging.getLogger(__name__)

#: The most of an article's text kept with its story: a long read, and a bounded row.
ARTICLE_TEXT_LIMIT = 20_000
#: What a card waits for an article being read before it goes out as the feed gave it.
CARD_WAIT = 4.0
#: How long a claim to read an article lasts: a read ends within its deadlines (the wait for
#: the host's turn, robots.txt, the page, extraction), well under a minute.
READ_LEASE = timedelta(minutes=2)
#: Reads the background keeper runs at once, and reads cards start at once in one process.
BACKGROUND_READS = 4
ON_DEMAND_READS = 4
#: Reads of one article at most, and the wait after a first failed one (then four times it).
MAX_ATTEMPTS = 3
RETRY_DELAY = timedelta(minutes=2)
#: A host that asks for a longer wait than this is not asked again.
LONGEST_RETRY = timedelta(hours=6)
#: Why a page gave no article that asking again never changes.
PERMANENT = frozenset(
    {
        "paywall",
        "robots",
        "not_html",
        "no_text",
        "off_site",
        "too_large",
        "too_complex",
        "private_address",
        "bad_url",
    }
)


class ReadsArticles(Protocol):
    """What reads one story's page (`news.articles.ArticleReader`)."""

    async def read(self, url: str, site: Sequence[str]) -> Article: ...


def after_reading(
    job: ArticleJob, result: Article | ArticleUnavailable, now: datetime
) -> StoryArticle:
    """What one read of `job` leaves stored: the article, or why not and when to try again."""
    attempts = job.attempts + 1
    if isinstance(result, Article):
        return StoryArticle(
            job.story_id,
            "read",
            text=cut_at_word(result.text, ARTICLE_TEXT_LIMIT),
            key_points=result.key_points,
            attempts=attempts,
            read_at=now,
        )
    wait = RETRY_DELAY * 4 ** (attempts - 1)
    if result.retry_after is not None:
        wait = max(wait, timedelta(seconds=result.retry_after))
    if result.kind in PERMANENT or attempts >= MAX_ATTEMPTS or wait > LONGEST_RETRY:
        return StoryArticle(
            job.story_id, "unavailable", kind=result.kind, attempts=attempts, read_at=now
        )
    return StoryArticle(
        job.story_id,
        "wanted",
        kind=result.kind,
        attempts=attempts,
        read_at=now,
        retry_at=now + wait,
    )


def job_sites(job: ArticleJob) -> tuple[str, ...]:
    """The site a job's page must be on: its feed's, and the domains at least half of the feed's
    latest links point at (a feed on feeds.outlet.example whose stories live on
    outlet-news.example), never a domain one stray link names: the bot is no open proxy."""
    domains = Counter(registrable_domain(host_of(link)) for link in job.feed_links)
    pointed = [
        domain for domain, count in domains.items() if domain and 2 * count >= len(job.feed_links)
    ]
    return (job.site, *sorted(pointed))


def wants_article(story: Story) -> bool:
    """Whether a story's card would gain by its article: a teaser with a link to read."""
    return bool(story.link) and needs_article(story.body or story.summary)


class ArticleKeeper:
    """Reads stories' articles: the wanted ones in the background (`read_due`, the poll role's
    loop), one card's on demand (`for_card`, the bot role's "More")."""

    def __init__(
        self,
        storage: Articles,
        reader: ReadsArticles,
        clock: Callable[[], datetime],
        *,
        background: int = BACKGROUND_READS,
        on_demand: int = ON_DEMAND_READS,
    ) -> None:
        self.storage = storage
        self.reader = reader
        self.clock = clock
        self._background_slots = background
        self._on_demand_slots = on_demand
        self._reading: dict[int, asyncio.Task[StoryArticle]] = {}
        self._background: set[int] = set()

    async def want(self, stories: Sequence[Story], now: datetime) -> int:
        """Mark the articles of the teasers among `stories` (being pushed) to be read; how many."""
        wanted = [story.id for story in stories if wants_article(story)]
        return await self.storage.want_articles(wanted, now=now) if wanted else 0

    async def read_due(self) -> int:
        """Claim the articles due to be read, as many as there are free slots, and start
        reading them; how many started. Returns at once: the reads go on by themselves."""
        free = self._background_slots - len(self._background)
        if free <= 0:
            return 0
        now = self.clock()
        jobs = await self.storage.claim_articles(now, lease_until=now + READ_LEASE, limit=free)
        for job in jobs:
            self._background.add(job.story_id)
            self._start(job)
        return len(jobs)

    async def for_card(self, story: Story, *, wait: float = CARD_WAIT) -> StoryArticle | None:
        """The article to show on `story`'s card: as stored, or read now within `wait` seconds
        when it is due; None when there is none (yet)."""
        task = self._reading.get(story.id)
        if task is None:
            stored = await self.storage.article(story.id)
            if stored is not None and stored.state in ("read", "unavailable"):
                return stored
            on_demand = len(self._reading) - len(self._background)
            if not wants_article(story) or on_demand >= self._on_demand_slots:
                return stored
            now = self.clock()
            job = await self.storage.claim_article(story.id, now=now, lease_until=now + READ_LEASE)
            if job is None:  # being read by another process, or not due again yet
                return stored
            task = self._start(job)
        # Not cancelled when the wait ends: the read goes on, and is kept for the next card.
        done, _ = await asyncio.wait({task}, timeout=wait)
        return task.result() if done and not task.cancelled() else None

    async def aclose(self) -> None:
        """Stop the reads in progress; their claims lapse and others read them later."""
        tasks = list(self._reading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, job: ArticleJob) -> asyncio.Task[StoryArticle]:
        task = asyncio.create_task(self._read(job), name=f"article:{job.story_id}")
        self._reading[job.story_id] = task

        def done(_: asyncio.Task[StoryArticle]) -> None:
            self._reading.pop(job.story_id, None)
            self._background.discard(job.story_id)

        task.add_done_callback(done)
        return task

    async def _read(self, job: ArticleJob) -> StoryArticle:
        result: Article | ArticleUnavailable
        try:
            result = await self.reader.read(job.url, site=job_sites(job))
        except ArticleUnavailable as unavailable:
            result = unavailable
        except Exception as error:  # a bug in reading one page: that page's failure only
            logger.error("reading the article at %s failed unexpectedly", job.url, exc_info=error)
            result = ArticleUnavailable(f"internal error: {type(error).__name__}", kind="network")
        article = after_reading(job, result, self.clock())
        if article.state != "read":
            logger.info("no article at %s (%s): %s", job.url, article.kind, result)
        try:
            await self.storage.record_article(article)
        except StorageError as error:  # the claim lapses and the page is read again later
            logger.warning("could not keep the article of story %d: %s", job.story_id, error)
        return article
