"""Building the running bot: storage, fetcher, poller, sender and Telegram handlers in one app.

`build_app(settings)` returns a python-telegram-bot `Application`. Polling runs on the
application's own job queue (APScheduler's AsyncIOScheduler inside PTB): it starts and stops with
the application, and its jobs get the bot without extra wiring.

Every Bot API request passes the one `handlers.gateway.Gateway` (the application's rate
limiter), so replies, pushes and edits share Telegram's limits, replies first. Updates of
different chats are handled concurrently, those of one chat in order (`PerChatUpdates`). The
jobs never raise: a failing tick (the database or the Bot API down) is one log line a minute
(`JobHealth`), and the next tick catches up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

from telegram.error import BadRequest, NetworkError
from telegram.ext import Application, ContextTypes, Defaults
from telegram.request import BaseRequest

from bot.settings import Settings
from bot.sync import sync_configured_sources
from bot.webhook import receive_updates
from bot.wiring import make_poller, open_synced_storage, parse_executor, utc_now
from handlers.gateway import Gateway, PerChatUpdates, command_limit_handler
from handlers.routes import Services, build_handlers, on_error, set_command_menus
from handlers.sender import Sender, SendReport
from handlers.telegram_http import AiohttpRequest
from news.errors import StorageError
from news.fetch import Fetcher, FetchLimits
from news.ingest import Poller
from news.model import ChatSettings, PollOutcome
from news.pacing import CommandLimits, Limits
from storage import SqlStorage

logger = logging.getLogger(__name__)


#: How often retention prunes the archive, and how long after start it first does.
RETENTION_PERIOD = timedelta(hours=1)
RETENTION_FIRST = timedelta(minutes=1)


def tick_period(interval: timedelta) -> timedelta:
    """How often the scheduler looks for due sources: a tenth of the interval, 1 s to 30 s."""
    return min(max(interval / 10, timedelta(seconds=1)), timedelta(seconds=30))


# Updates handled at once; those of one chat still wait for each other.
CONCURRENT_UPDATES = 256
DIGEST_RETRY = timedelta(minutes=1)
FAILURE_LOG_EVERY = 60.0


def _is_outage(error: BaseException) -> bool:
    """The database or the Bot API is unreachable, locked or full: not a bug in the bot."""
    if isinstance(error, NetworkError):
        return not isinstance(error, BadRequest)
    return isinstance(error, StorageError | OSError)


class JobHealth:
    """Runs the scheduler's jobs so that a failing one is one log line a minute, not a
    traceback a tick, and says when it works again.

    An outage (`_is_outage`) is logged without its traceback; anything else is a bug and
    keeps its traceback, still at most once a minute per job.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._failing: dict[str, tuple[float, float]] = {}  # job → (failing since, logged at)

    async def run(self, name: str, job: Callable[[], Awaitable[None]]) -> bool:
        """Run `job`; True when it finished, False when it failed (and was logged)."""
        try:
            await job()
        except Exception as error:
            now = self._monotonic()
            since, logged = self._failing.get(name, (now, float("-inf")))
            if now - logged >= FAILURE_LOG_EVERY:
                first_line = (str(error).splitlines() or [""])[0]
                logger.error(
                    "%s failed (%s: %s)%s; trying again",
                    name,
                    type(error).__name__,
                    first_line,
                    f" for {now - since:.0f} s" if now > since else "",
                    exc_info=None if _is_outage(error) else error,
                )
                logged = now
            self._failing[name] = (since, logged)
            return False
        if (failing := self._failing.pop(name, None)) is not None:
            logger.info("%s works again after %.0f s", name, self._monotonic() - failing[0])
        return True


@dataclass(slots=True)
class Runtime:
    """The long-lived parts the jobs use, opened in post_init and closed in post_shutdown."""

    storage: SqlStorage
    fetcher: Fetcher
    poller: Poller
    sender: Sender
    executor: Executor | None = None


def new_transports() -> tuple[BaseRequest, BaseRequest]:
    """The Bot API connections: one pool for every call, one for long polling."""
    return AiohttpRequest(connection_pool_size=16), AiohttpRequest(connection_pool_size=1)


def run_bot(settings: Settings) -> None:
    """`newsbot run`: the bot until Ctrl-C or SIGTERM.

    python-telegram-bot shuts down only an application that finished starting; stopped while
    the Bot API was still unreachable, the bot's connections and its gateway are closed here,
    so stopping is as quiet then as at any other time.
    """
    gateway = Gateway(Limits(global_per_second=settings.send_rate))
    transports = new_transports()
    application = build_app(settings, gateway=gateway, transports=transports)
    try:
        receive_updates(application, settings)
    finally:
        loop = asyncio.get_event_loop()
        try:
            loop.run_until_complete(_close(gateway, transports))
        finally:
            loop.close()


async def _close(gateway: Gateway, transports: tuple[BaseRequest, BaseRequest]) -> None:
    await gateway.shutdown()
    for transport in transports:
        await transport.shutdown()


def build_app(
    settings: Settings,
    *,
    storage: SqlStorage | None = None,
    clock: Callable[[], datetime] = utc_now,
    after_tick: Callable[[list[PollOutcome], SendReport], None] | None = None,
    gateway: Gateway | None = None,
    transports: tuple[BaseRequest, BaseRequest] | None = None,
) -> Application:  # type: ignore[type-arg]
    """The whole bot, ready for `run_polling()`.

    Tests pass their own storage and clock, `after_tick` to learn when a scheduler tick
    (poll of the due sources, then sending) has finished instead of sleeping, and a `gateway`
    on a virtual clock to wait out outages without waiting.
    """
    token = settings.require_token()
    runtime: dict[str, Runtime] = {}
    health = JobHealth()
    gateway = gateway or Gateway(Limits(global_per_second=settings.send_rate))
    requests, updates_request = transports or new_transports()

    async def send() -> SendReport:
        report = await runtime["live"].sender.send_pending()
        if report.sent or report.failed:
            logger.info("sent %d stories, %d failed", report.sent, report.failed)
        return report

    polling = asyncio.Lock()

    async def poll_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        # The first poll is a job of its own (see post_init); it and the repeating one must
        # never run at once, and a tick that finds the other running has nothing to add.
        if polling.locked():
            return
        async with polling:
            await poll_once()

    async def poll_once() -> None:
        live = runtime["live"]
        outcomes: list[PollOutcome] = []
        report = SendReport()

        async def poll() -> None:
            nonlocal outcomes
            outcomes = await live.poller.poll_due(clock())
            for outcome in outcomes:
                if outcome.status == "error":
                    logger.warning("poll %s", outcome.summary_line())
                elif outcome.new_stories:
                    logger.info("poll %s", outcome.summary_line())

        async def send_and_cluster() -> None:
            nonlocal report
            report = await send()
            await live.poller.cluster_backlog(clock())

        # Each part on its own: pushes and clustering go on while polling fails, and back.
        await health.run("poll", poll)
        if await health.run("send", send_and_cluster) and after_tick is not None:
            after_tick(outcomes, report)

    async def send_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        async def job() -> None:
            await send()

        await health.run("send", job)

    async def retention_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        async def job() -> None:
            assert settings.retention is not None
            report = await runtime["live"].storage.prune(clock() - settings.retention)
            if report:
                logger.info(
                    "retention: deleted %d stories, %d finished deliveries and %d inactive "
                    "chats in %d batches",
                    report.stories,
                    report.deliveries,
                    report.chats,
                    report.batches,
                )

        await health.run("retention", job)

    async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.job is not None and context.job.chat_id is not None
        chat_id = context.job.chat_id

        async def job() -> None:
            await runtime["live"].sender.send_digest(chat_id)

        # A digest that met a Bot API outage stays owed and the sender retries it; one that
        # could not even be read (the database down) is tried again here, in a minute.
        if not await health.run("digest", job):
            assert application.job_queue is not None
            application.job_queue.run_once(
                digest_job, when=DIGEST_RETRY, chat_id=chat_id, name=f"digest-retry:{chat_id}"
            )

    def schedule_digest(chat: ChatSettings) -> None:
        """(Re)schedule a chat's daily digest job on APScheduler's cron trigger."""
        assert application.job_queue is not None
        name = f"digest:{chat.chat_id}"
        for job in application.job_queue.get_jobs_by_name(name):
            job.schedule_removal()
        if chat.digest_time:
            hour, minute = (int(part) for part in chat.digest_time.split(":"))
            zone = ZoneInfo(chat.timezone or "UTC")
            application.job_queue.run_daily(
                digest_job,
                time=dt_time(hour, minute, tzinfo=zone),
                chat_id=chat.chat_id,
                name=name,
            )

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        store = storage or await open_synced_storage(settings, clock)
        if storage is not None:
            await sync_configured_sources(store, settings, now=clock(), confirmed=True)
        store.never_store(token)
        fetcher = Fetcher(
            FetchLimits(max_bytes=settings.max_feed_bytes),
            public_only=not settings.allow_private_sources,
        )
        executor = parse_executor(settings)
        poller = make_poller(store, fetcher, settings, executor)
        sender = Sender(application.bot, store, clock, lease=settings.send_lease)
        runtime["live"] = Runtime(store, fetcher, poller, sender, executor)
        services = Services(
            storage=store, clock=clock, admins=settings.admins, schedule_digest=schedule_digest
        )
        # Before every other handler: one user's flood of commands stops here.
        application.add_handler(command_limit_handler(CommandLimits()), group=-1)
        for handler in build_handlers(
            services, fetcher=fetcher, allow_private=settings.allow_private_sources
        ):
            application.add_handler(handler)
        await set_command_menus(application.bot)
        assert application.job_queue is not None
        for chat in await store.digest_chats():
            schedule_digest(chat)
        application.job_queue.run_repeating(
            send_tick,
            interval=1.0,
            first=1.0,
            name="send",
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        # APScheduler computes a job's first run when the scheduler starts, after post_init:
        # a repeating job due "now" would already be late and wait a whole period, so the
        # first poll runs as a job of its own, at once.
        application.job_queue.run_once(
            poll_tick, when=0.0, name="first-poll", job_kwargs={"misfire_grace_time": None}
        )
        application.job_queue.run_repeating(
            poll_tick,
            interval=tick_period(settings.poll_interval),
            first=tick_period(settings.poll_interval),
            name="poll",
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        if settings.retention is not None:
            application.job_queue.run_repeating(
                retention_job,
                interval=RETENTION_PERIOD,
                first=RETENTION_FIRST,
                name="retention",
                job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            )
        logger.info("Newsbot started with %d sources", len(settings.sources))

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        live = runtime.pop("live", None)
        if live is not None:
            await live.fetcher.aclose()
            if live.executor is not None:
                live.executor.shutdown(cancel_futures=True)
            if storage is None:
                await live.storage.close()

    application = (
        Application.builder()
        .token(token)
        .request(requests)
        .get_updates_request(updates_request)
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_api_url.removesuffix("/bot") + "/file/bot")
        .defaults(Defaults(tzinfo=UTC))
        .rate_limiter(gateway)
        .concurrent_updates(PerChatUpdates(CONCURRENT_UPDATES))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.add_error_handler(on_error)
    return application
