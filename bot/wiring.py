"""What every `newsbot` command wires alike, without Telegram: the clock, the database, the poller.

`bot.app` builds the running bot from them, and `bot.cli`'s terminal commands use them alone, so
`newsbot latest` or `newsbot sources list` start without importing python-telegram-bot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING

from bot.settings import Settings
from bot.sync import SyncResult, sync_configured_sources
from storage import SqlStorage, open_storage

if TYPE_CHECKING:
    from news.articles import HostPace
    from news.articles.keeping import ArticleKeeper
    from news.feeds.fetch import Fetcher
    from news.polling.pipeline import Poller

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def open_synced_storage(
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    confirmed: bool = True,
    say: Callable[[str], None] = logger.info,
) -> SqlStorage:
    """Open (and migrate) the database and sync the configured sources into it (see bot.sync:
    unless `confirmed`, a different sources file than the last one only says what it would
    change)."""
    storage, _ = await open_and_sync(settings, clock, confirmed=confirmed, say=say)
    return storage


async def open_and_sync(
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    confirmed: bool = True,
    say: Callable[[str], None] = logger.info,
) -> tuple[SqlStorage, SyncResult]:
    """`open_synced_storage`, and what the sync did (with the sources it read)."""
    storage = await open_storage(settings.database_url)
    if settings.telegram_bot_token:
        storage.never_store(settings.telegram_bot_token)
    synced = await sync_configured_sources(storage, settings, now=clock(), confirmed=confirmed)
    if synced.message:
        say(synced.message)
    return storage, synced


def parse_executor(settings: Settings) -> Executor:
    """Worker processes for feed parsing: `parse_workers` of them parse every feed; with 0
    (automatic), feeds parse in a thread, and large ones and those of a call that polls many
    sources in up to one process per core, started when first needed (`news.feeds.offload`): no
    feed holds the bot's event loop for long, and a big poll uses the machine's cores."""
    if settings.parse_workers == 0:
        # Starts nothing until a large feed or a busy tick comes.
        from news.feeds.offload import LazyProcessPool, default_workers

        return LazyProcessPool(default_workers())
    # spawn, not fork: the bot's process holds an event loop and open connections.
    return ProcessPoolExecutor(settings.parse_workers, mp_context=get_context("spawn"))


# Later than any story's date: "unplaced stories of any age".
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


async def place_backlog(storage: SqlStorage, now: datetime) -> int:
    """Place the stored stories no event holds yet (a first poll's backlog, whatever a crash
    left) into their events, as `newsbot run` does after each poll; how many.

    One indexed read when there are none: the clusterer is imported and loaded only when a
    story waits, so that `newsbot latest` starts without it.
    """
    if not await storage.unclustered_before(_END_OF_TIME, limit=1):
        return 0
    # Imported on use, as by `make_poller`.
    from news.events.clustering import Clusterer
    from news.polling.cluster_keeper import ClusterKeeper

    return await ClusterKeeper(storage, Clusterer()).backlog(now, batch=2000)


def make_poller(
    storage: SqlStorage,
    fetcher: Fetcher,
    settings: Settings,
    executor: Executor | None = None,
    *,
    articles: ArticleKeeper | None = None,
    pace: HostPace | None = None,
) -> Poller:
    """The poller of the bot and of `newsbot poll`: it clusters what it stores, and tells
    `articles` (the bot's) which teasers it queued pushes of."""
    # Imported on use: the feed parser and the clusterer are for the commands that poll.
    from news.events.clustering import Clusterer
    from news.polling.pipeline import Poller, PollSettings

    return Poller(
        storage,
        fetcher,
        PollSettings(interval=settings.poll_interval, ceiling=settings.poll_ceiling),
        parse_executor=executor if settings.parse_workers else None,
        offload_executor=None if settings.parse_workers else executor,
        clusterer=Clusterer(),
        articles=articles,
        pace=pace,
    )


def make_article_keeper(
    storage: SqlStorage,
    fetcher: Fetcher,
    executor: Executor,
    clock: Callable[[], datetime],
) -> tuple[ArticleKeeper, HostPace]:
    """The reader of stories' articles (`news.articles.keeping`), extracting in the parse
    workers, and the per-host pace it keeps, which the poller shares."""
    from news.articles import ArticleReader, HostPace
    from news.articles.keeping import ArticleKeeper

    pace = HostPace()
    return ArticleKeeper(storage, ArticleReader(fetcher, pace, executor=executor), clock), pace
