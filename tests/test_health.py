"""`/healthz` and `/metrics` (`NEWSBOT_HTTP_PORT`), scraped from the real `newsbot run`.

What an operator's probe sees: 200 while the database answers and the role's loops tick, 503
with the failing check named when the database is gone or a loop is stuck; and Prometheus'
text format with each role's series.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.loops import JobHealth
from tests.conftest import POSTGRES_URL
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import fresh_story_feed, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.fakes.webhook import free_port
from tests.harness import (
    http_get,
    newsbot_environment,
    running_bot,
    start_newsbot,
    wait_for_healthz,
)

ALICE = 1001


def metric(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (labels in any order)."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"no {name}{labels} in:\n{exposition}")


def environment(telegram: FakeBotApi, tmp_path: Path, **extra: str) -> dict[str, str]:
    return newsbot_environment(
        telegram,
        f"sqlite:///{tmp_path / 'newsbot.db'}",
        tmp_path / "sources.txt",
        NEWSBOT_ALLOW_PRIVATE_SOURCES="1",
        NEWSBOT_POLL_INTERVAL="1",
        NEWSBOT_POLL_CEILING="1",
        **extra,
    )


async def start(env: dict[str, str], cwd: Path, role: str = "all") -> asyncio.subprocess.Process:
    return await start_newsbot(env, cwd, role=role, log=cwd / "stderr.log")


async def stop(process: asyncio.subprocess.Process, cwd: Path) -> str:
    if process.returncode is None:
        process.terminate()
    await asyncio.wait_for(process.wait(), timeout=60)
    return (cwd / "stderr.log").read_text()


def ukraine_story() -> str:
    return fresh_story_feed(
        "Ukraine and its neighbours sign a grain deal",
        "https://news.example.org/grain",
        "The deal reopens the ports.",
    )


async def test_newsbot_run_serves_healthz_and_metrics_of_its_work(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/world.xml", rss_feed([], title="World"))
    feeds.set_response("/broken.xml", status=404)
    (tmp_path / "sources.txt").write_text(
        f"{feeds.url('/world.xml')}\n{feeds.url('/broken.xml')}\n"
    )
    port = free_port()
    bot = await start(environment(telegram, tmp_path, NEWSBOT_HTTP_PORT=str(port)), tmp_path)
    try:
        health = await wait_for_healthz(port, 200)
        telegram.inject_message(ALICE, "/subscribe ukraine")
        await telegram.wait_for_message(ALICE, contains="Subscribed", timeout=60)
        feeds.set_feed("/world.xml", ukraine_story())
        await telegram.wait_for_message(ALICE, contains="grain deal", timeout=60)
        await asyncio.sleep(1.5)  # the tick that sent it has recorded it
        code, exposition = await http_get(port, "/metrics")
    finally:
        log = await stop(bot, tmp_path)

    assert health == {
        "status": "ok",
        "role": "all",
        "checks": {"database": "ok", "poll": "ok", "send": "ok", "updates": "ok"},
    }
    assert code == 200
    print("\n" + "\n".join(line for line in exposition.splitlines() if "newsbot_" in line))
    assert metric(exposition, "newsbot_feeds_fetched_total", role="all", status="ok") >= 2
    assert metric(exposition, "newsbot_feeds_failed_total", role="all", kind="http-404") >= 1
    assert metric(exposition, "newsbot_stories_stored_total", role="all") == 1
    assert metric(exposition, "newsbot_matches_total", role="all") == 1
    assert metric(exposition, "newsbot_messages_sent_total", role="all", kind="push") == 1
    assert metric(exposition, "newsbot_telegram_retry_after_total", role="all") == 0
    assert metric(exposition, "newsbot_outbox_depth", role="all", state="pending") == 0
    assert metric(exposition, "newsbot_oldest_pending_push_seconds", role="all") == 0
    assert metric(exposition, "newsbot_poll_lag_seconds", role="all") < 5
    assert metric(exposition, "newsbot_sources_failing", role="all") == 1
    assert metric(exposition, "newsbot_tick_duration_seconds_count", role="all", loop="poll") > 0
    assert metric(exposition, "newsbot_info", role="all", version="0.1.0") == 1
    assert "Traceback" not in log


async def metrics_once_polled(port: int, deadline: float = 30) -> str:
    """/metrics once the first poll tick has fetched a feed (/healthz is ok before it ends)."""
    async with asyncio.timeout(deadline):
        while True:
            _, exposition = await http_get(port, "/metrics")
            if 'newsbot_feeds_fetched_total{role="poll",status="ok"}' in exposition:
                return exposition
            await asyncio.sleep(0.2)


@pytest.mark.postgres
async def test_a_poller_without_its_database_answers_503_and_never_talks_to_telegram(
    postgres_url: str, telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/world.xml", rss_feed([], title="World"))
    (tmp_path / "sources.txt").write_text(feeds.url("/world.xml") + "\n")
    port = free_port()
    env = environment(telegram, tmp_path, DATABASE_URL=postgres_url, NEWSBOT_HTTP_PORT=str(port))
    del env["TELEGRAM_BOT_TOKEN"]  # a poller needs none
    poller = await start(env, tmp_path, "poll")
    try:
        healthy = await wait_for_healthz(port, 200)
        exposition = await metrics_once_polled(port)
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            await admin.execute(f'DROP DATABASE "{postgres_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()
        failing = await wait_for_healthz(port, 503, deadline=30)
    finally:
        log = await stop(poller, tmp_path)

    assert healthy == {"status": "ok", "role": "poll", "checks": {"database": "ok", "poll": "ok"}}
    assert metric(exposition, "newsbot_feeds_fetched_total", role="poll", status="ok") >= 1
    assert "newsbot_outbox_depth{" not in exposition, "the outbox is the senders' to report"
    assert failing["status"] == "failing" and failing["role"] == "poll"
    assert failing["checks"]["database"] != "ok", failing
    assert telegram.calls == [], "a poller never talks to Telegram"
    assert "Traceback" not in log


async def test_a_loop_that_stopped_ticking_turns_healthz_503(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    """The database answers, but every send tick waits on a lock another program holds: after
    longer than a loop may stay silent, /healthz says which loop is stuck."""
    feeds.set_feed("/world.xml", rss_feed([], title="World"))
    port = free_port()
    moved = 0.0
    loop = asyncio.get_running_loop()
    health = JobHealth(monotonic=lambda: loop.time() + moved)
    env = {"NEWSBOT_HTTP_PORT": str(port)}
    async with running_bot(telegram, feeds, tmp_path, extra_env=env, health=health) as bot:
        await bot.ticks.wait_polls(1)
        assert (await wait_for_healthz(port, 200))["checks"]["send"] == "ok"
        locker = sqlite3.connect(tmp_path / "newsbot.db", timeout=10, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            moved = 400.0  # the clock /healthz reads; the loops' own waits are real
            stuck = await wait_for_healthz(port, 503, deadline=30)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        recovered = await wait_for_healthz(port, 200, deadline=60)

    assert stuck["checks"]["database"] == "ok", "SELECT 1 needs no lock"
    assert stuck["checks"]["send"].startswith("no tick finished for"), stuck
    assert recovered["status"] == "ok"
