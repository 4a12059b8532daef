"""Admins ask /status, and hear once when a source has failed for a day (through the fake Bot API).

A source failing for 24 h is reported to each admin once per failing streak: remembered in the
database, so neither the next report round nor a restart repeats it; a success ends the streak.
Each admin reads the report in the language they last wrote to the bot in.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from news.model import PollRecord, Source
from storage import SqlStorage
from tests.conftest import DATA, Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.harness import ask, running_bot

ADMIN, OTHER_ADMIN, READER = 42, 43, 1001
ADMINS = {"NEWSBOT_ADMINS": f"{ADMIN},{OTHER_ADMIN}"}


def plain(html: str) -> str:
    """A message as its reader sees it: without its HTML tags."""
    return re.sub(r"<[^>]+>", "", html)


def timed_out(source: Source, now: datetime) -> PollRecord:
    """A poll of `source` that timed out at `now`."""
    return PollRecord(source.id, now, now, error_kind="timeout", error="timed out")


def serve(feeds: FeedServer) -> None:
    feeds.set_feed("/world.xml", (DATA / "seed-feed.xml").read_bytes())
    feeds.set_response("/gone-quiet.xml", status=404)


async def test_status_shows_admins_failing_sources_outbox_last_poll_and_version(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    serve(feeds)
    paths = ("/world.xml", "/gone-quiet.xml")
    async with running_bot(telegram, feeds, tmp_path, feed_paths=paths, extra_env=ADMINS) as bot:
        await bot.ticks.wait_polls(1)
        refused = plain(await ask(telegram, READER, "/status"))
        status = plain(await ask(telegram, ADMIN, "/status"))

    assert "only the bot's admins" in refused
    lines = status.splitlines()
    assert lines[0].startswith("Newsbot 0.1.0 · this process: --role all (last ticks: poll ")
    assert "Sources: 2 read, 1 failing; last poll just now" in status
    assert "http-404: HTTP 404" in status and "(never fetched)" in status
    assert "Outbox: 0 pending, 0 sending" in status


async def test_a_source_failing_for_a_day_is_reported_to_each_admin_once(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, clock: Clock
) -> None:
    serve(feeds)
    paths = ("/world.xml", "/gone-quiet.xml")
    broken = feeds.url("/gone-quiet.xml")

    def reports() -> list[tuple[int, str]]:
        """Each report, in any language, with the admin it went to."""
        sent = [(message["chat_id"], plain(message["text"])) for message in telegram.delivered()]
        return [(chat, text) for chat, text in sent if text.startswith("⚠️")]

    async with running_bot(
        telegram, feeds, tmp_path, feed_paths=paths, extra_env=ADMINS, clock=clock
    ) as bot:
        await bot.ticks.wait_polls(1)
        await bot.work.loops.run_once("failing-report")
        assert reports() == [], "failing for minutes is no news"
        await ask(telegram, OTHER_ADMIN, "/status", language_code="uk")

        clock.advance(hours=25)
        await bot.work.loops.run_once("failing-report")
        [(first, report), (second, ukrainian)] = reports()
        assert (first, second) == (ADMIN, OTHER_ADMIN)
        assert report.startswith("⚠️ 1 source failing for a day")
        assert broken in report and "http-404" in report and "never fetched" in report
        assert ukrainian.startswith("⚠️ 1 джерело не працює вже добу")
        assert broken in ukrainian and "ще жодного разу не завантажено" in ukrainian
        assert "/status показує, як працює бот" in ukrainian

        await bot.work.loops.run_once("failing-report")
        assert len(reports()) == 2, "once, not at every round"

    (tmp_path / "again").mkdir()
    restarted = {**ADMINS, "DATABASE_URL": f"sqlite:///{tmp_path / 'newsbot.db'}"}
    async with running_bot(
        telegram, feeds, tmp_path / "again", feed_paths=paths, extra_env=restarted, clock=clock
    ) as bot:
        clock.advance(hours=1)
        await bot.work.loops.run_once("failing-report")
    assert len(reports()) == 2, "a restart remembers what was reported"


async def test_a_report_is_claimed_once_and_a_success_starts_a_new_streak(
    storage: SqlStorage, clock: Clock
) -> None:
    source: Source = await storage.add_source("https://news.example.org/feed", now=clock())
    day = timedelta(hours=24)
    await storage.record_outcomes([timed_out(source, clock())])
    assert await storage.claim_failing_reports(failing_before=clock() - day, now=clock()) == []

    clock.advance(hours=25)
    [reported] = await storage.claim_failing_reports(failing_before=clock() - day, now=clock())
    assert reported.url == source.url and reported.last_error_kind == "timeout"
    assert await storage.claim_failing_reports(failing_before=clock() - day, now=clock()) == []
    status = await storage.operations_status(clock())
    assert (status.sources_enabled, status.failing_count) == (1, 1)
    assert [failing.url for failing in status.failing] == [source.url]

    await storage.record_outcomes([PollRecord(source.id, clock(), clock())])
    clock.advance(hours=1)
    await storage.record_outcomes([timed_out(source, clock())])
    clock.advance(hours=25)
    assert len(await storage.claim_failing_reports(failing_before=clock() - day, now=clock())) == 1
