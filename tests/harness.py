"""Running the real bot in a test: in this loop, or as the real `newsbot run` in a subprocess.

`run_polling()` owns its event loop and blocks, so `running_bot` performs its steps itself
(initialize, post_init, start polling, start; and the reverse) against the fake Bot API and feed
servers; `start_newsbot_run` starts the command itself, as an operator does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from telegram.ext import Application, ExtBot

from bot.app import build_app
from bot.loops import JobHealth
from bot.settings import Settings
from bot.webhook import ALLOWED_UPDATES
from bot.wiring import utc_now
from bot.work import RoleWork
from handlers.gateway import Gateway, Priority
from handlers.pacing import AdmissionLimits, Budget
from handlers.sender import SendReport
from handlers.telegram_http import AiohttpRequest
from news.model import PollOutcome
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi, RecordedCall

SEED_FEED = Path(__file__).resolve().parent / "data" / "seed-feed.xml"

ROOT = Path(__file__).resolve().parent.parent

#: Budgets no test reaches: for tests that type at machine speed about something else than pace.
MACHINE_SPEED = AdmissionLimits(
    user_commands=Budget(100_000),
    group_commands=Budget(100_000),
    user_buttons=Budget(100_000),
    group_buttons=Budget(100_000),
    user_inline=Budget(100_000),
    waiting_per_chat=100_000,
)


class Ticks:
    """Counts finished scheduler ticks so a test can wait for the next one without sleeping."""

    def __init__(self) -> None:
        self.outcomes: list[list[PollOutcome]] = []
        self.reports: list[SendReport] = []
        self._changed = asyncio.Event()

    def __call__(self, outcomes: list[PollOutcome], report: SendReport) -> None:
        self.outcomes.append(outcomes)
        self.reports.append(report)
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def polls(self) -> int:
        """Finished ticks that polled at least one source."""
        return sum(1 for outcomes in self.outcomes if outcomes)

    async def wait_polls(self, count: int, deadline: float = 15.0) -> None:
        """Wait until `count` ticks that polled a source have finished."""
        async with asyncio.timeout(deadline):
            while self.polls < count:
                await self._changed.wait()


@dataclass
class RunningBot:
    app: Application  # type: ignore[type-arg]
    ticks: Ticks
    settings: Settings

    @property
    def work(self) -> RoleWork:
        """The bot's repeating work: its loops, poller and sender."""
        work = self.app.bot_data["work"]
        assert isinstance(work, RoleWork)
        return work


@asynccontextmanager
async def running_bot(
    telegram: FakeBotApi,
    feeds: FeedServer,
    tmp_path: Path,
    *,
    feed_paths: tuple[str, ...] = ("/world.xml",),
    extra_env: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    gateway: Gateway | None = None,
    health: JobHealth | None = None,
    admission: AdmissionLimits | None = None,
) -> AsyncIterator[RunningBot]:
    """The whole bot, polling `feed_paths` on the feed server every second."""
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(feeds.url(path) + "\n" for path in feed_paths))
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'newsbot.db'}",
        "NEWSBOT_SOURCES": str(sources),
        "NEWSBOT_POLL_INTERVAL": "1",
        # A fixed one-second schedule: the adaptive one would stretch it between polls.
        "NEWSBOT_POLL_CEILING": "1",
        "NEWSBOT_ALLOW_PRIVATE_SOURCES": "1",
        **(extra_env or {}),
    }
    settings = Settings.from_environment(env, env_file=None)
    ticks = Ticks()
    app = build_app(
        settings,
        clock=clock,
        after_tick=ticks,
        gateway=gateway,
        health=health,
        admission=admission,
    )
    async with polling(app):
        yield RunningBot(app, ticks, settings)


@asynccontextmanager
async def polling(app: Application) -> AsyncIterator[None]:  # type: ignore[type-arg]
    """The steps of `app.run_polling()` in this loop (initialize, post_init, start polling,
    start), and on leaving their reverse; the bot asks for the updates it does in production."""
    await app.initialize()
    assert app.post_init is not None and app.updater is not None
    await app.post_init(app)
    await app.updater.start_polling(
        poll_interval=0.0, timeout=1, allowed_updates=list(ALLOWED_UPDATES)
    )
    await app.start()
    try:
        yield
    finally:
        await app.updater.stop()
        await app.stop()
        assert app.post_stop is not None
        await app.post_stop(app)
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)


@asynccontextmanager
async def seeded_bot(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, **options: Any
) -> AsyncIterator[RunningBot]:
    """`running_bot` on the seed feed (tests/data/seed-feed.xml at /world.xml), once it has
    polled it; `options` go to `running_bot`."""
    feeds.set_feed("/world.xml", SEED_FEED.read_bytes())
    async with running_bot(telegram, feeds, tmp_path, **options) as running:
        await running.ticks.wait_polls(1)
        yield running


async def ask(
    telegram: FakeBotApi,
    chat_id: int,
    text: str,
    *,
    chat_type: str = "private",
    contains: str | None = None,
    language_code: str = "en",
) -> str:
    """Send `text` as a user whose Telegram speaks `language_code`; the text of the bot's first
    answer to it (the first containing `contains`, if given)."""
    mark = telegram.mark()
    telegram.inject_message(chat_id, text, chat_type=chat_type, language_code=language_code)
    answer = await telegram.wait_for_message(chat_id, contains=contains, after=mark)
    return str(answer["text"])


def newsbot_environment(
    telegram: FakeBotApi, database_url: str, sources: Path, **settings: str
) -> dict[str, str]:
    """The environment of a `newsbot` process in a test: this one's without its NEWSBOT_* and
    TELEGRAM_* variables, pointed at the fake Bot API, `database_url` and the `sources` file,
    then `settings`."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))},
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": database_url,
        "NEWSBOT_SOURCES": str(sources),
        **settings,
    }


async def start_newsbot(
    env: Mapping[str, str], cwd: Path, *, role: str = "all", log: Path | None = None
) -> asyncio.subprocess.Process:
    """`newsbot run --role ROLE` in `cwd`; its stderr written to `log` (a file: a pipe that no
    one reads would fill and block a long run), else piped."""
    stderr = log.open("wb") if log is not None else None
    try:
        return await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "run", "--role", role),
            env=env,
            cwd=cwd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE if stderr is None else stderr,
        )
    finally:
        if stderr is not None:
            stderr.close()


async def start_roles(
    env: Mapping[str, str],
    tmp_path: Path,
    named_roles: Iterable[tuple[str, str]],
    processes: dict[str, asyncio.subprocess.Process],
) -> None:
    """Start `newsbot run --role ROLE` for each (name, role), each in its own folder
    `tmp_path/name` with its stderr in `name/stderr.log`; a poller gets `env` without its
    TELEGRAM_* variables (it must not need them). Each is put in `processes` as it starts, so
    the caller's cleanup stops those started before a failure."""
    pollers_env = {k: v for k, v in env.items() if not k.startswith("TELEGRAM_")}
    for name, role in named_roles:
        (tmp_path / name).mkdir()
        processes[name] = await start_newsbot(
            pollers_env if role == "poll" else env,
            tmp_path / name,
            role=role,
            log=tmp_path / name / "stderr.log",
        )


async def stop_roles(processes: dict[str, asyncio.subprocess.Process]) -> None:
    """Terminate those of `processes` that still run, then wait for each to end."""
    for process in processes.values():
        if process.returncode is None:
            process.terminate()
    for process in processes.values():
        await asyncio.wait_for(process.wait(), timeout=60)


def role_logs(tmp_path: Path, processes: dict[str, asyncio.subprocess.Process]) -> dict[str, str]:
    """The stderr log of each process `start_roles` started, by its name."""
    return {name: (tmp_path / name / "stderr.log").read_text() for name in processes}


async def start_newsbot_run(
    telegram: FakeBotApi,
    tmp_path: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    role: str = "all",
) -> asyncio.subprocess.Process:
    """The real `newsbot run --role ROLE` against the fake Bot API, reading no feeds; stderr is
    piped."""
    sources = tmp_path / "sources.txt"
    sources.write_text("")
    database_url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    env = newsbot_environment(telegram, database_url, sources, **(extra_env or {}))
    return await start_newsbot(env, tmp_path, role=role)


async def http_get(port: int, path: str) -> tuple[int, str]:
    """GET `path` on loopback at `port`: the status and the body."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as answer,
    ):
        return answer.status, await answer.text()


async def wait_for_healthz(port: int, status: int = 200, deadline: float = 60) -> dict[str, Any]:
    """Ask /healthz until it answers `status` (the process may still be starting); its answer."""
    async with asyncio.timeout(deadline):
        while True:
            try:
                code, body = await http_get(port, "/healthz")
            except aiohttp.ClientConnectionError:
                code, body = 0, ""
            if code == status:
                answer: dict[str, Any] = json.loads(body)
                return answer
            await asyncio.sleep(0.2)


def sent_to(chat_id: int, contains: str) -> Callable[[RecordedCall], bool]:
    def predicate(call: RecordedCall) -> bool:
        return (
            call.method == "sendMessage"
            and not call.failed
            and call.params.get("chat_id") == chat_id
            and contains in str(call.params.get("text", ""))
        )

    return predicate


@asynccontextmanager
async def client_through(gateway: Gateway) -> AsyncIterator[tuple[FakeBotApi, ExtBot[Priority]]]:
    """A fresh fake Bot API and the real client, every request of it through `gateway`."""
    async with (
        FakeBotApi() as api,
        ExtBot(
            api.token,
            base_url=api.base_url,
            request=AiohttpRequest(connection_pool_size=8),
            rate_limiter=gateway,
        ) as bot,
    ):
        yield api, bot
