"""Following a whole outlet (`/subscribe source:NAME`), and what /sources shows to whom.

Through the real PTB client, the fake Bot API and the real poller, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import empty_storage
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, running_bot

ALICE = 1001  # an admin of the bot (NEWSBOT_ADMINS)
BOB = 2002


def _feed(title: str, *headlines: str, minutes_ago: int = 30) -> str:
    now = datetime.now(UTC)
    return rss_feed(
        [
            FeedItem(
                title=headline,
                link="https://news.example/" + "-".join(headline.lower().split()),
                published=now - timedelta(minutes=minutes_ago + number),
            )
            for number, headline in enumerate(headlines)
        ],
        title=title,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def bot(
    request: pytest.FixtureRequest, telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    """Two outlets, and a third feed behind credentials and a key that fails to fetch."""
    feeds.set_feed("/planet.xml", _feed("Daily Planet", "Gotham council votes on budget"))
    feeds.set_feed("/world.xml", _feed("Example World News", "Markets open higher"))
    broken = feeds.url("/broken.xml").replace("http://", "http://reader:hunter2@")
    sources = tmp_path / "outlets.txt"
    sources.write_text(
        f"{feeds.url('/planet.xml')}\n{feeds.url('/world.xml')}\n{broken}?key=s3cret-key\n"
    )
    env = {"NEWSBOT_SOURCES": str(sources), "NEWSBOT_ADMINS": str(ALICE)}
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_database")
        await (await empty_storage(env["DATABASE_URL"])).close()  # emptied, migrated
    async with running_bot(telegram, feeds, tmp_path, extra_env=env) as running:
        await running.ticks.wait_polls(1)
        yield running


async def test_following_an_outlet_pushes_every_new_story_of_it_and_no_other(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    answer = await ask(telegram, BOB, "/subscribe Source:Planet", contains="Subscribed")
    assert "<b>source:planet</b>" in answer
    mark = telegram.mark()

    feeds.set_feed(
        "/planet.xml",
        _feed(
            "Daily Planet",
            "Weather: rain all week",
            "Gotham council votes on budget",
            minutes_ago=1,
        ),
    )
    feeds.set_feed("/world.xml", _feed("Example World News", "Rain floods the capital"))
    pushed = await telegram.wait_for_message(BOB, contains="Weather: rain all week", after=mark)
    await bot.ticks.wait_polls(bot.ticks.polls + 2)

    assert "<i>Daily Planet</i>" in pushed["text"]
    assert "🔔 source:planet" in pushed["text"]
    pushes = [m["text"] for m in telegram.delivered(BOB) if "🔔" in m["text"]]
    assert len(pushes) == 1, "only the outlet's new story, once; none from the other feed"

    latest = await ask(telegram, BOB, "/latest source:planet")
    assert "Latest on source:planet" in latest
    assert "Weather: rain all week" in latest and "Gotham council votes on budget" in latest
    assert "Markets open higher" not in latest and "Rain floods" not in latest


async def test_sources_names_each_outlets_term_and_keeps_failures_details_for_admins(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    for user in (ALICE, BOB):
        listing = await ask(telegram, user, "/sources", contains="Sources")
        assert 'Daily Planet · <code>source:"daily planet"</code>' in listing.replace("&quot;", '"')
        assert "/subscribe source:bbc" in listing
        # No credentials nor keys, for anyone.
        assert "hunter2" not in listing and "reader@" not in listing
        assert "s3cret" not in listing and "?key" not in listing
        assert "/broken.xml\n" in listing

    admin = await ask(telegram, ALICE, "/sources", contains="Sources")
    others = await ask(telegram, BOB, "/sources", contains="Sources")
    assert "HTTP 404" in admin and "failing" not in admin
    assert "HTTP 404" not in others and "⚠ failing (" in others
