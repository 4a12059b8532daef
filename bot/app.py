"""Building the running bot: `newsbot run --role all|poll|send|bot` (see `bot.roles`).

`build_app(settings, role=…)` returns a python-telegram-bot `Application` for the roles that
talk to Telegram (`all`, `send`, `bot`); its `post_init` opens the role's work (`bot.work`), its
handlers (roles that answer) and the health endpoint, and `post_stop`/`post_shutdown` close them.
The `poll` role runs without Telegram (`serve_poller`). `run_bot` runs a role until Ctrl-C or
SIGTERM: the roles that answer receive updates by webhook or long polling (`bot.webhook`); the
others never call getUpdates nor set a webhook.

Every Bot API request passes the one `handlers.gateway.Gateway` (the application's rate
limiter), so replies, pushes and edits share Telegram's limits, replies first. Each update is
judged as it arrives (`handlers.admission`): one user's or one group's flood is dropped there,
before it waits; updates of different chats are handled concurrently, those of one chat in
order. The
jobs never raise: a failing tick (the database or the Bot API down) is one log line a minute
(`bot.loops.JobHealth`), and the next tick catches up. Daily digests run on the application's
job queue (APScheduler's cron trigger, in the chat's time zone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from importlib.metadata import PackageNotFoundError, version
from zoneinfo import ZoneInfo

from telegram.ext import Application, CommandHandler, ContextTypes, Defaults
from telegram.request import BaseRequest

from bot.health import OK, HealthServer
from bot.loops import JobHealth
from bot.memory import limit_arenas
from bot.metrics import Metrics
from bot.roles import Role, answers, check_role, polls, sends
from bot.settings import Settings
from bot.webhook import WebhookEndpoint, receive_updates
from bot.wiring import utc_now
from bot.work import RoleWork
from handlers.admission import AdmittedUpdates
from handlers.common import ProcessInfo
from handlers.gateway import Gateway
from handlers.pacing import AdmissionLimits, Limits
from handlers.routes import (
    Services,
    build_handlers,
    chat_language_handler,
    on_error,
    set_command_menus,
)
from handlers.sender import SendReport
from handlers.telegram_http import AiohttpRequest
from news.model import ChatSettings, PollOutcome
from news.reading import AcrossLanguages
from storage import SqlStorage

logger = logging.getLogger(__name__)

# Updates handled at once; those of one chat still wait for each other, holding no slot.
CONCURRENT_UPDATES = 256
DIGEST_RETRY = timedelta(minutes=1)


def newsbot_version() -> str:
    try:
        return version("newsbot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def new_transports() -> tuple[BaseRequest, BaseRequest]:
    """The Bot API connections: one pool for every call, one for long polling."""
    return AiohttpRequest(connection_pool_size=16), AiohttpRequest(connection_pool_size=1)


def run_bot(settings: Settings, role: Role = "all") -> None:
    """`newsbot run --role …`: the role until Ctrl-C or SIGTERM.

    python-telegram-bot shuts down only an application that finished starting; stopped while
    the Bot API was still unreachable, the bot's connections and its gateway are closed here,
    so stopping is as quiet then as at any other time.
    """
    check_role(role, settings.database_url)
    limit_arenas()
    if role == "poll":
        asyncio.run(serve_poller(settings))
        return
    gateway = Gateway(Limits(global_per_second=settings.send_rate))
    transports = new_transports()
    webhook = WebhookEndpoint.for_settings(settings) if answers(role) else None
    application = build_app(
        settings, role=role, gateway=gateway, transports=transports, webhook=webhook
    )
    if not answers(role):
        asyncio.run(_serve_quietly(application, gateway, transports))
        return
    try:
        receive_updates(application, webhook, settings)
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


async def serve_until_stopped(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """`start`, wait for SIGINT or SIGTERM, `stop`; a signal during `start` cancels it."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    starting = asyncio.ensure_future(start())
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a start that failed (a bad token) stops here
            await stopped
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    finally:
        stopped.cancel()
        await stop()


async def stop_application(application: Application) -> None:  # type: ignore[type-arg]
    """The end of PTB's `run_polling()`/`run_webhook()`, for the roles that run its steps
    themselves: stop and post_stop (only if it had started), shutdown, post_shutdown."""
    if application.running:
        await application.stop()
        if application.post_stop is not None:
            await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)


async def _serve_quietly(
    application: Application,  # type: ignore[type-arg]
    gateway: Gateway,
    transports: tuple[BaseRequest, BaseRequest],
) -> None:
    """A role that talks to Telegram but takes no updates (`send`): the steps of
    `run_polling()` without the updater, so it never calls getUpdates."""

    async def start() -> None:
        await application.initialize()
        assert application.post_init is not None
        await application.post_init(application)
        await application.start()

    async def stop() -> None:
        await stop_application(application)
        await _close(gateway, transports)

    await serve_until_stopped(start, stop)


async def serve_poller(settings: Settings) -> None:
    """`--role poll`: the poll loop and the health endpoint; no Telegram at all."""
    health = JobHealth()
    metrics = Metrics("poll", newsbot_version())
    work = RoleWork(settings, "poll", health=health, metrics=metrics, clock=utc_now)
    server: HealthServer | None = None

    async def start() -> None:
        nonlocal server
        storage = await work.open()
        work.start()
        server = await start_health(settings, "poll", work, metrics, storage, utc_now)
        logger.info("Newsbot started with %d sources (--role poll)", len(settings.sources))

    async def stop() -> None:
        await work.stop()
        if server is not None:
            await server.stop()
        await work.close()

    await serve_until_stopped(start, stop)


async def start_health(
    settings: Settings,
    role: Role,
    work: RoleWork,
    metrics: Metrics,
    storage: SqlStorage,
    clock: Callable[[], datetime],
    *,
    extra_checks: Callable[[], dict[str, str]] = dict,
    webhook: WebhookEndpoint | None = None,
) -> HealthServer | None:
    """The health endpoint, when `NEWSBOT_HTTP_PORT` is set; with the `webhook`'s route when
    they share an address and port."""
    if settings.http_port is None:
        return None

    def loop_checks() -> dict[str, str]:
        stale = work.loops.stale_loops()
        checks = {name: stale.get(name, OK) for name in work.loops.last_ticks()}
        return {**checks, **extra_checks()}

    server = HealthServer(
        role=role,
        listen=settings.http_listen,
        port=settings.http_port,
        storage=storage,
        metrics=metrics,
        loop_checks=loop_checks,
        clock=clock,
        outbox=sends(role),
        sources=polls(role),
        routes=webhook.add_routes
        if webhook is not None and webhook.shares_server_with_health(settings)
        else None,
    )
    await server.start()
    return server


def build_app(
    settings: Settings,
    *,
    role: Role = "all",
    storage: SqlStorage | None = None,
    clock: Callable[[], datetime] = utc_now,
    after_tick: Callable[[list[PollOutcome], SendReport], None] | None = None,
    gateway: Gateway | None = None,
    transports: tuple[BaseRequest, BaseRequest] | None = None,
    health: JobHealth | None = None,
    admission: AdmissionLimits | None = None,
    webhook: WebhookEndpoint | None = None,
) -> Application:  # type: ignore[type-arg]
    """The bot's `Application` for a role that talks to Telegram (`all`, `send`, `bot`).

    Tests pass their own storage and clock, `after_tick` to learn when a poll tick (poll of the
    due sources, then sending) has finished instead of sleeping, a `gateway` on a virtual clock
    to wait out outages without waiting, `health` on a clock they move, and `admission` budgets
    of their own when they type at machine speed about something else than pace. In webhook
    mode, `webhook` is the endpoint updates come to (beside /healthz when they share a port).
    """
    assert role != "poll", "the poll role runs without Telegram: serve_poller"
    token = settings.require_token()
    health = health or JobHealth()
    gateway = gateway or Gateway(Limits(global_per_second=settings.send_rate))
    requests, updates_request = transports or new_transports()
    metrics = Metrics(role, newsbot_version())
    updates = AdmittedUpdates(admission, concurrency=CONCURRENT_UPDATES)
    gateway.busy = updates.busy
    metrics.watch_telegram(
        retry_afters=lambda: gateway.retry_afters,
        expired=lambda: gateway.replies_expired,
        refused=lambda: updates.refused,
    )
    servers: list[HealthServer] = []
    digest_times: dict[int, tuple[str, str]] = {}

    async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.job is not None and context.job.chat_id is not None
        chat_id = context.job.chat_id

        async def job() -> None:
            assert work.sender is not None
            report = await work.sender.send_digest(chat_id)
            metrics.sent(report)

        # A digest that met a Bot API outage stays owed and the sender retries it; one that
        # could not even be read (the database down) is tried again here, in a minute.
        if not await health.run("digest", job):
            assert application.job_queue is not None
            application.job_queue.run_once(
                digest_job, when=DIGEST_RETRY, chat_id=chat_id, name=f"digest-retry:{chat_id}"
            )

    def schedule_digest(chat: ChatSettings) -> None:
        """(Re)schedule a chat's daily digest job on APScheduler's cron trigger."""
        if not sends(role):
            return  # a sender reads the new time within a minute
        assert application.job_queue is not None
        name = f"digest:{chat.chat_id}"
        for job in application.job_queue.get_jobs_by_name(name):
            job.schedule_removal()
        digest_times.pop(chat.chat_id, None)
        if chat.digest_time:
            hour, minute = (int(part) for part in chat.digest_time.split(":"))
            zone = ZoneInfo(chat.timezone or "UTC")
            application.job_queue.run_daily(
                digest_job,
                time=dt_time(hour, minute, tzinfo=zone),
                chat_id=chat.chat_id,
                name=name,
            )
            digest_times[chat.chat_id] = (chat.digest_time, chat.timezone or "UTC")

    def sync_digests(chats: list[ChatSettings]) -> None:
        """Follow digest times changed through another process (`--role bot`)."""
        wanted = {chat.chat_id: chat for chat in chats if chat.digest_time}
        for chat_id in set(digest_times) - set(wanted):
            schedule_digest(ChatSettings(chat_id=chat_id, kind="private"))
        for chat_id, chat in wanted.items():
            if digest_times.get(chat_id) != (chat.digest_time, chat.timezone or "UTC"):
                schedule_digest(chat)

    def updates_check() -> dict[str, str]:
        if not answers(role):
            return {}
        if webhook is not None:  # updates come to the webhook's route
            running = webhook.accepting and application.running
        else:
            running = application.updater is not None and application.updater.running
        return {"updates": OK if running else "not receiving updates"}

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        store = await work.open()
        store.never_store(token)
        if answers(role):
            services = Services(
                storage=store,
                clock=clock,
                admins=settings.admins,
                schedule_digest=schedule_digest,
                process=ProcessInfo(role, newsbot_version(), work.loops.last_ticks),
                articles=work.articles,
                across=AcrossLanguages(clock),
            )
            # First the language the chat chose (/settings), which every reply is written in.
            application.add_handler(chat_language_handler(services), group=-2)
            handlers = build_handlers(
                services, fetcher=work.fetcher, allow_private=settings.allow_private_sources
            )
            for handler in handlers:
                application.add_handler(handler)
            updates.known_commands = frozenset(
                command
                for handler in handlers
                if isinstance(handler, CommandHandler)
                for command in handler.commands
            )
            await set_command_menus(application.bot)
        if sends(role):
            for chat in await store.digest_chats():
                schedule_digest(chat)
        work.start()
        server = await start_health(
            settings, role, work, metrics, store, clock, extra_checks=updates_check, webhook=webhook
        )
        if server is not None:
            servers.append(server)
        logger.info("Newsbot started with %d sources (--role %s)", len(settings.sources), role)

    async def post_stop(application: Application) -> None:  # type: ignore[type-arg]
        # Each loop finishes its tick while the bot and the database are still open.
        await work.stop()

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        await work.stop()  # when post_stop did not run (a test's own shutdown)
        for server in servers:
            await server.stop()
        servers.clear()
        await work.close()

    builder = (
        Application.builder()
        .token(token)
        .request(requests)
        .get_updates_request(updates_request)
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_api_url.removesuffix("/bot") + "/file/bot")
        .defaults(Defaults(tzinfo=UTC))
        .rate_limiter(gateway)
        .concurrent_updates(updates)
    )
    if not answers(role):
        builder = builder.updater(None)  # never getUpdates: that is another process's
    application = (
        builder.post_init(post_init).post_stop(post_stop).post_shutdown(post_shutdown).build()
    )
    work = RoleWork(
        settings,
        role,
        health=health,
        metrics=metrics,
        clock=clock,
        bot=application.bot,
        storage=storage,
        after_tick=after_tick,
        sync_digests=sync_digests if sends(role) else None,
    )

    # Reachable by tests (and nothing else) as the application's shared state.
    application.bot_data["work"] = work
    application.add_error_handler(on_error)
    return application
