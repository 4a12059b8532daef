"""The whole product loop, for real: feed server → scheduler → database → Telegram.

The real python-telegram-bot client talks HTTP to a fake Bot API server, the real poller fetches
from a feed server over HTTP, and the stories land in a real SQLite database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, running_bot

ALICE = 1001
SEED_FEED = (DATA / "seed-feed.xml").read_text(encoding="utf-8")


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    feeds.set_feed("/world.xml", SEED_FEED)
    async with running_bot(telegram, feeds, tmp_path) as running:
        yield running


async def test_a_subscriber_gets_each_new_matching_story_once_and_latest_answers(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    ticks = bot.ticks
    await ask(telegram, ALICE, "/start", contains="news bot")
    await ask(telegram, ALICE, "/subscribe ukraine", contains="Subscribed to: <b>ukraine</b>")
    await ticks.wait_polls(1)
    before_new_stories = telegram.mark()
    assert len(telegram.delivered(ALICE)) == 2, "the seed stories of the first poll are not pushed"

    now = datetime.now(UTC)
    new_items = [
        FeedItem(
            title="Ukraine & EU open accession chapter",
            link="https://news.example.org/world/ukraine-eu-chapter?utm_source=rss",
            summary="<p>Brussels &amp; Kyiv agreed on the first <b>chapter</b>.</p>",
            published=now - timedelta(minutes=12),
        ),
        FeedItem(
            title="Record heat in southern Spain",
            link="https://news.example.org/world/spain-heat",
            summary="Temperatures passed 44 degrees.",
            published=now - timedelta(minutes=5),
        ),
    ]
    seed_items = SEED_FEED.split("<language>en</language>", 1)[1].split("</channel>")[0]
    feed_with_news = rss_feed(new_items, title="Example World News").replace(
        "</channel>", seed_items + "</channel>"
    )
    feeds.set_feed("/world.xml", feed_with_news)

    pushed = await telegram.wait_for_message(
        ALICE, contains="Ukraine &amp; EU open accession chapter", after=before_new_stories
    )
    await ticks.wait_polls(ticks.polls + 2)

    story_messages = telegram.delivered(ALICE)[2:]
    assert len(story_messages) == 1, [m["text"] for m in story_messages]
    text = pushed["text"]
    assert text.startswith("<b>Ukraine &amp; EU open accession chapter</b>")
    assert "Brussels &amp; Kyiv agreed on the first chapter." in text
    assert "<i>Example World News</i> · 12 min ago" in text
    assert 'href="https://news.example.org/world/ukraine-eu-chapter"' in text
    assert pushed["parse_mode"] == "HTML"

    lines = await ask(telegram, ALICE, "/latest ukraine 10", contains="Latest on ukraine")
    positions = [
        lines.index(headline)
        for headline in (
            "Ukraine &amp; EU open accession chapter",
            "Macron On Sending French Troops To Ukraine",
            "EU to Stand by Ukraine",
            "Russian Drones Crash in Moldova",
            "China Proposes Trump-Putin Summit",  # names only "Ukrainian": a demonym
            "Trump: Ukraine in NATO Not Practical",
            "Russia Rejects Talks on Land Swap with Ukraine",
        )
    ]
    assert positions == sorted(positions), "newest first"
    for unrelated in ("Spain", "Central Bank", "Alpine", "Language Models"):
        assert unrelated not in lines


async def test_bot_registers_its_command_menu(bot: RunningBot, telegram: FakeBotApi) -> None:
    call = await telegram.wait_for_call(lambda c: c.method == "setMyCommands")
    names = [command["command"] for command in call.params["commands"]]
    assert {
        "start",
        "help",
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "latest",
        "sources",
    } <= set(names)
