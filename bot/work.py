"""A role's repeating work over one database: opened, started, stopped and closed by the
composition root (`bot.app`), inside a Telegram application or, for `poll`, without one.

    poll  the poll tick (claim due sources, fetch, store, cluster, match: pushes queued), then
          the clustering of first polls' backlogs; reading the pages of pushed teasers (each
          second, beside the polls); hourly retention; on PostgreSQL, an hourly look at
          whether the recent stories' search index needs building anew (`storage.recent`)
    send  the send tick each second (pushes, digest retries, "Also:" edits); the daily digests'
          times, read again each minute (set through the `bot` process); the once-a-streak
          report of sources failing for a day to the admins
    all   both, and the poll tick sends what it queued before clustering the backlog
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from telegram.ext import ExtBot

from bot.loops import JobHealth, Loops
from bot.memory import release_free_memory
from bot.metrics import Metrics
from bot.roles import Role, answers, polls, sends
from bot.settings import Settings
from bot.wiring import make_article_keeper, make_poller, open_synced_storage, parse_executor
from handlers.admin import report_failing_sources
from handlers.gateway import Priority
from handlers.sender import Sender, SendReport
from news.feeds.fetch import Fetcher, FetchLimits
from news.model import ChatSettings, PollOutcome
from news.policy import REPORT_FAILING_AFTER, claim_batch
from news.polling.pipeline import Poller
from storage import SqlStorage, open_storage

if TYPE_CHECKING:
    from news.articles.keeping import ArticleKeeper

logger = logging.getLogger(__name__)

#: How often retention prunes the archive, and how long after start it first does.
RETENTION_PERIOD = timedelta(hours=1)
RETENTION_FIRST = timedelta(minutes=1)
#: How often the poll role looks whether PostgreSQL's recent index needs renewing; renewed,
#: it starts three weeks back, so an hour's delay costs nothing.
RECENT_SEARCH_PERIOD = timedelta(hours=1)
#: How often a sender looks for due pushes; and, less often, for digest times that changed
#: (set through another process) and for sources failing for a day.
SEND_PERIOD = timedelta(seconds=1)
DIGEST_SYNC_PERIOD = timedelta(minutes=1)
REPORT_PERIOD = timedelta(minutes=1)
#: How often the poll role looks for articles due to be read (pushed teasers' pages): soon
#: after a push, so that its card is ready when a reader presses More.
ARTICLES_PERIOD = timedelta(seconds=1)


def tick_period(interval: timedelta) -> timedelta:
    """How often the scheduler looks for due sources: a tenth of the interval, 1 s to 30 s."""
    return min(max(interval / 10, timedelta(seconds=1)), timedelta(seconds=30))


class RoleWork:
    """A role's repeating work: its database, fetcher, poller and sender, and its loops.

    `bot` (with the gateway as its rate limiter) is needed by the roles that send; `storage`,
    `clock` and `after_tick` are the tests' seams (`after_tick` learns when a poll tick —
    poll, send, cluster — has finished, instead of sleeping).
    """

    def __init__(
        self,
        settings: Settings,
        role: Role,
        *,
        health: JobHealth,
        metrics: Metrics,
        clock: Callable[[], datetime],
        bot: ExtBot[Priority] | None = None,
        storage: SqlStorage | None = None,
        after_tick: Callable[[list[PollOutcome], SendReport], None] | None = None,
        sync_digests: Callable[[list[ChatSettings]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.role = role
        self.health = health
        self.metrics = metrics
        self.clock = clock
        self.bot = bot
        self.after_tick = after_tick
        self.sync_digests = sync_digests
        self._given_storage = storage
        self._storage: SqlStorage | None = storage
        self.fetcher: Fetcher | None = None
        self.poller: Poller | None = None
        self.sender: Sender | None = None
        self.executor: Executor | None = None
        self.articles: ArticleKeeper | None = None
        self.loops = Loops(health, on_tick=metrics.tick)

    @property
    def storage(self) -> SqlStorage:
        assert self._storage is not None, "RoleWork.open() first"
        return self._storage

    async def open(self) -> SqlStorage:
        """Open the database (migrated; the sources file applied when this role polls) and
        whatever the role's jobs use."""
        settings = self.settings
        if self._storage is None:
            if polls(self.role):
                self._storage = await open_synced_storage(settings, self.clock)
            else:
                self._storage = await open_storage(settings.database_url)
        elif polls(self.role):
            from bot.sync import sync_configured_sources

            await sync_configured_sources(self._storage, settings, now=self.clock(), confirmed=True)
        if settings.telegram_bot_token:
            self._storage.never_store(settings.telegram_bot_token)
        if polls(self.role) or answers(self.role):  # answers: /addsource checks the feed
            self.fetcher = Fetcher(
                FetchLimits(max_bytes=settings.max_feed_bytes),
                public_only=not settings.allow_private_sources,
            )
        pace = None
        if polls(self.role) or (self.fetcher is not None and settings.fetch_articles):
            # Feeds parse, and articles are extracted, in worker processes started when needed.
            self.executor = parse_executor(settings)
        if self.fetcher is not None and self.executor is not None and settings.fetch_articles:
            # One keeper for the poll role's reads and the bot role's cards: in one process a
            # card waits for the read already under way.
            self.articles, pace = make_article_keeper(
                self._storage, self.fetcher, self.executor, self.clock
            )
        if polls(self.role):
            assert self.fetcher is not None
            self.poller = make_poller(
                self._storage,
                self.fetcher,
                settings,
                self.executor,
                articles=self.articles,
                pace=pace,
            )
        if sends(self.role):
            assert self.bot is not None, "a sending role needs the bot"
            self.sender = Sender(
                self.bot,
                self._storage,
                self.clock,
                lease=settings.send_lease,
                batch=claim_batch(settings.send_rate, settings.send_lease),
                progress=lambda: self.health.beat("send"),
            )
        return self._storage

    def _housekeeping(
        self,
        name: str,
        job: Callable[[], Awaitable[None]],
        every: timedelta,
        first: timedelta | None = None,
    ) -> None:
        """A loop /healthz does not watch (a late one harms nobody at once); its first run is
        one period after start unless `first` says otherwise."""
        self.loops.start(
            name, job, every=every, first=every if first is None else first, watched=False
        )

    def start(self) -> None:
        """Start the role's loops; the first poll runs at once."""
        if polls(self.role):
            period = tick_period(self.settings.poll_interval)
            self.loops.start("poll", self._poll_tick, every=period, guarded=False)
            if self.settings.retention is not None:
                self._housekeeping("retention", self._prune, RETENTION_PERIOD, RETENTION_FIRST)
            if self.storage.dialect == "postgresql":
                self._housekeeping(
                    "recent-search",
                    self._refresh_recent_search,
                    RECENT_SEARCH_PERIOD,
                    RETENTION_FIRST,
                )
            if self.articles is not None:
                self._housekeeping("articles", self._read_articles, ARTICLES_PERIOD, timedelta(0))
        if sends(self.role):
            self.loops.start("send", self._send, every=SEND_PERIOD, first=SEND_PERIOD)
            if self.sync_digests is not None and self.role == "send":
                # In `all` the digest commands reschedule at once; here they ran elsewhere.
                self._housekeeping("digest-times", self._sync_digests, DIGEST_SYNC_PERIOD)
            if self.settings.admins:
                self._housekeeping("failing-report", self._report, REPORT_PERIOD, timedelta(0))

    async def stop(self) -> None:
        """Stop the loops, each after its running tick."""
        await self.loops.stop()

    async def close(self) -> None:
        """Close what `open` opened (a storage handed in stays open)."""
        if self.articles is not None:
            await self.articles.aclose()
        if self.fetcher is not None:
            await self.fetcher.aclose()
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
        if self._storage is not None and self._given_storage is None:
            await self._storage.close()

    # The jobs ----------------------------------------------------------------------------------

    async def send_pending(self) -> SendReport:
        assert self.sender is not None
        report = await self.sender.send_pending()
        self.metrics.sent(report)
        if report.sent or report.failed:
            logger.info("sent %d stories, %d failed", report.sent, report.failed)
        return report

    async def _send(self) -> None:
        await self.send_pending()

    async def _poll_tick(self) -> None:
        poller = self.poller
        assert poller is not None
        outcomes: list[PollOutcome] = []
        report = SendReport()

        async def poll() -> None:
            nonlocal outcomes
            outcomes = await poller.poll_due(self.clock())
            self.metrics.polled(outcomes)
            for outcome in outcomes:
                if outcome.status == "error":
                    logger.warning("poll %s", outcome.summary_line())
                elif outcome.new_stories:
                    logger.info("poll %s", outcome.summary_line())

        async def send_and_cluster() -> None:
            nonlocal report
            if self.sender is not None:  # new stories go out before the backlog is clustered
                report = await self.send_pending()
            await poller.cluster_backlog(self.clock())
            # What the tick's batches freed goes back to the system (see bot.memory).
            await asyncio.to_thread(release_free_memory)

        # Each part on its own: pushes and clustering go on while polling fails, and back.
        polled = await self.health.run("poll", poll)
        clustered = await self.health.run("send" if self.sender else "cluster", send_and_cluster)
        if polled and clustered and self.after_tick is not None:
            self.after_tick(outcomes, report)

    async def _read_articles(self) -> None:
        assert self.articles is not None
        await self.articles.read_due()

    async def _refresh_recent_search(self) -> None:
        await self.storage.refresh_recent_search()

    async def _prune(self) -> None:
        assert self.settings.retention is not None
        report = await self.storage.prune(self.clock() - self.settings.retention)
        if report:
            logger.info(
                "retention: deleted %d stories, %d finished deliveries and %d inactive "
                "chats in %d batches",
                report.stories,
                report.deliveries,
                report.chats,
                report.batches,
            )

    async def _sync_digests(self) -> None:
        assert self.sync_digests is not None
        self.sync_digests(await self.storage.digest_chats())

    async def _report(self) -> None:
        assert self.bot is not None
        now = self.clock()
        failing = await self.storage.claim_failing_reports(
            failing_before=now - REPORT_FAILING_AFTER, now=now
        )
        if failing:
            logger.warning("%d sources failing for a day; telling the admins", len(failing))
            await report_failing_sources(self.bot, self.settings.admins, failing, now, self.storage)
