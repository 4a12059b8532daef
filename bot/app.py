"""Building the running bot: storage, fetcher, poller, sender and Telegram handlers in one app.

`build_app(settings)` returns a python-telegram-bot `Application`. Polling runs on the
application's own job queue (APScheduler's AsyncIOScheduler inside PTB): it starts and stops with
the application, and its jobs get the bot without extra wiring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

from telegram.ext import Application, ContextTypes, Defaults

from bot.settings import Settings
from bot.sync import sync_configured_sources
from bot.wiring import make_poller, open_synced_storage, parse_executor, utc_now
from handlers.routes import COMMAND_MENU, Services, build_handlers, on_error
from handlers.sender import Sender, SendReport
from handlers.telegram_http import AiohttpRequest
from news.fetch import Fetcher, FetchLimits
from news.ingest import Poller
from news.model import ChatSettings, PollOutcome
from news.pacing import Limits
from storage import SqlStorage

logger = logging.getLogger(__name__)


#: How often retention prunes the archive, and how long after start it first does.
RETENTION_PERIOD = timedelta(hours=1)
RETENTION_FIRST = timedelta(minutes=1)


def tick_period(interval: timedelta) -> timedelta:
    """How often the scheduler looks for due sources: a tenth of the interval, 1 s to 30 s."""
    return min(max(interval / 10, timedelta(seconds=1)), timedelta(seconds=30))


@dataclass(slots=True)
class Runtime:
    """The long-lived parts the jobs use, opened in post_init and closed in post_shutdown."""

    storage: SqlStorage
    fetcher: Fetcher
    poller: Poller
    sender: Sender
    executor: Executor | None = None


def build_app(
    settings: Settings,
    *,
    storage: SqlStorage | None = None,
    clock: Callable[[], datetime] = utc_now,
    after_tick: Callable[[list[PollOutcome], SendReport], None] | None = None,
) -> Application:  # type: ignore[type-arg]
    """The whole bot, ready for `run_polling()`.

    Tests pass their own storage and clock, and `after_tick` to learn when a scheduler tick
    (poll of the due sources, then sending) has finished instead of sleeping.
    """
    token = settings.require_token()
    runtime: dict[str, Runtime] = {}

    async def poll_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        live = runtime["live"]
        outcomes = await live.poller.poll_due(clock())
        for outcome in outcomes:
            if outcome.status == "error":
                logger.warning("poll %s", outcome.summary_line())
            elif outcome.new_stories:
                logger.info("poll %s", outcome.summary_line())
        report = await live.sender.send_pending()
        if report.sent or report.failed:
            logger.info("sent %d stories, %d failed", report.sent, report.failed)
        await live.poller.cluster_backlog(clock())
        if after_tick is not None:
            after_tick(outcomes, report)

    async def send_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        report = await runtime["live"].sender.send_pending()
        if report.sent or report.failed:
            logger.info("sent %d stories, %d failed", report.sent, report.failed)

    async def retention_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        assert settings.retention is not None
        report = await runtime["live"].storage.prune(clock() - settings.retention)
        if report:
            logger.info(
                "retention: deleted %d stories, %d finished deliveries and %d inactive chats "
                "in %d batches",
                report.stories,
                report.deliveries,
                report.chats,
                report.batches,
            )

    async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.job is not None and context.job.chat_id is not None
        await runtime["live"].sender.send_digest(context.job.chat_id)

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
        fetcher = Fetcher(
            FetchLimits(max_bytes=settings.max_feed_bytes),
            public_only=not settings.allow_private_sources,
        )
        executor = parse_executor(settings)
        poller = make_poller(store, fetcher, settings, executor)
        sender = Sender(
            application.bot,
            store,
            clock,
            limits=Limits(global_per_second=settings.send_rate),
            lease=settings.send_lease,
        )
        runtime["live"] = Runtime(store, fetcher, poller, sender, executor)
        services = Services(
            storage=store, clock=clock, admins=settings.admins, schedule_digest=schedule_digest
        )
        for handler in build_handlers(
            services, fetcher=fetcher, allow_private=settings.allow_private_sources
        ):
            application.add_handler(handler)
        await application.bot.set_my_commands(COMMAND_MENU)
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
        application.job_queue.run_repeating(
            poll_tick,
            interval=tick_period(settings.poll_interval),
            first=0.0,
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
        .request(AiohttpRequest(connection_pool_size=16))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_api_url.removesuffix("/bot") + "/file/bot")
        .defaults(Defaults(tzinfo=UTC))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.add_error_handler(on_error)
    return application
