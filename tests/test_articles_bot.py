"""Article text through the real bot (issue 22): teaser feeds on 127.0.0.1, their stories' pages
on 127.0.0.2-5 (`tests.fakes.article_site`), the real python-telegram-bot client against the fake
Bot API.

A pushed teaser's page is read in the background right after its push is queued, and its
**More** card shows key points from the article body; a paywalled page, a robots.txt that says
no, a huge page and a page that trickles a byte a second all leave the card as the feed gave it,
and the bot keeps answering meanwhile; with NEWSBOT_FETCH_ARTICLES=0 no page is asked for.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from news.model import StoryArticle
from tests.fakes.article_site import ArticleHost, Page, article_html, paywall_html
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, running_bot

ALICE, BOB = 1001, 1002
OLD = datetime(2024, 3, 1, tzinfo=UTC)
#: Long enough for a spawned extraction worker's first page on a loaded machine.
READ_DEADLINE = 60.0

ARTICLE_TITLE = "Northport harbour reopens after a week of storms"
ARTICLE = [
    "The harbour of Northport reopened to shipping on Tuesday after a week of storms that "
    "closed the port and left 40 cargo ships waiting at anchor off the coast.",
    "Harbour engineers worked through the weekend to clear two sunken barges from the main "
    "channel, the port authority said in a statement on its website.",
    "Insurers put the damage to the quays and cranes at about 25 million euros, most of it "
    "caused by a storm surge that flooded the container terminal on Thursday night.",
    "The first ship to enter the port was a ferry from Bergen carrying 300 passengers, who "
    "had spent four nights on board waiting for the channel to open.",
    "Port officials expect the backlog of cargo ships to clear by the end of next week if the "
    "weather holds and the pilots can work in both daily shifts.",
]


def teaser(title: str, link: str, now: datetime, summary: str) -> FeedItem:
    return FeedItem(title, link, summary=summary, published=now - timedelta(minutes=5))


def button_data(params: dict[str, Any]) -> str:
    markup = params["reply_markup"]
    keyboard = json.loads(markup) if isinstance(markup, str) else markup
    return str(keyboard["inline_keyboard"][0][0]["callback_data"])


def points_of(card: str) -> list[str]:
    """The key points a card lists (none when it has no "Keep in mind" box)."""
    if "<b>Keep in mind</b>\n" not in card:
        return []
    box = card.split("<b>Keep in mind</b>\n", 1)[1].split("\n\n", 1)[0]
    return [line.removeprefix("• ") for line in box.split("\n")]


async def until(condition: Callable[[], Any], deadline: float = READ_DEADLINE) -> Any:
    """Wait until `condition()` is truthy (it may be a coroutine function); its value."""
    async with asyncio.timeout(deadline):
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)


async def article_settled(bot: RunningBot, story_id: int) -> StoryArticle:
    """The story's article once reading it came to an end: read, or unavailable for good."""

    async def settled() -> StoryArticle | None:
        article = await bot.work.storage.article(story_id)
        return article if article is not None and article.state in ("read", "unavailable") else None

    result: StoryArticle = await until(settled)
    return result


class Pushed:
    """A pushed story: its message and the story id under its More button."""

    def __init__(self, message_id: int, data: str) -> None:
        self.message_id = message_id
        self.data = data
        self.story_id = int(data.split(":", 1)[1])


async def pushed(telegram: FakeBotApi, chat_id: int, contains: str, mark: int) -> Pushed:
    params = await telegram.wait_for_message(chat_id, contains=contains, after=mark)
    call = next(
        call
        for call in telegram.calls[mark:]
        if call.method == "sendMessage" and call.params is params
    )
    return Pushed(int(call.result["message_id"]), button_data(params))


async def open_card(telegram: FakeBotApi, chat_id: int, push: Pushed, headline: str) -> str:
    mark = telegram.mark()
    telegram.inject_callback_query(chat_id, push.message_id, push.data)
    card = await telegram.wait_for_message(
        chat_id, contains=f"<b>{headline}</b>", after=mark, timeout=30
    )
    return str(card["text"])


@pytest.fixture
async def sites() -> AsyncIterator[dict[str, ArticleHost]]:
    """The outlets' sites, each on its own loopback address."""
    hosts = {
        "news": ArticleHost("127.0.0.2"),
        "paywall": ArticleHost("127.0.0.3"),
        "robots": ArticleHost("127.0.0.4", robots="User-agent: *\nDisallow: /\n"),
        "hostile": ArticleHost("127.0.0.5"),
    }
    async with AsyncExitStack() as stack:
        for host in hosts.values():
            await stack.enter_async_context(host)
        yield hosts


def seed(feeds: FeedServer, sites: dict[str, ArticleHost]) -> tuple[str, ...]:
    """Each site's feed on 127.0.0.1 with an old story (stored by the first poll, never pushed)."""
    for name, site in sites.items():
        old = FeedItem(f"{name} archive", site.url("/archive"), summary="Old.", published=OLD)
        feeds.set_feed(f"/{name}.xml", rss_feed([old], title=name.title()))
    return tuple(f"/{name}.xml" for name in sites)


def publish(feeds: FeedServer, sites: dict[str, ArticleHost], name: str, *items: FeedItem) -> None:
    old = FeedItem(f"{name} archive", sites[name].url("/archive"), summary="Old.", published=OLD)
    feeds.set_feed(f"/{name}.xml", rss_feed([*items, old], title=name.title()))


async def test_a_pushed_teaser_s_card_shows_key_points_from_its_article(
    telegram: FakeBotApi,
    feeds: FeedServer,
    sites: dict[str, ArticleHost],
    tmp_path: Path,
) -> None:
    news, paywall, robots = sites["news"], sites["paywall"], sites["robots"]
    news.set_page("/harbour", article_html(ARTICLE_TITLE, ARTICLE))
    paywall_teaser = "Cruise lines will pay twice as much to dock in Northport from next year."
    paywall.set_page("/fees", paywall_html("Northport doubles cruise fees", paywall_teaser))
    robots.set_page("/pilots", article_html("Pilots strike", ARTICLE))
    async with running_bot(telegram, feeds, tmp_path, feed_paths=seed(feeds, sites)) as bot:
        for topic in ("harbour", "cruise", "pilots"):
            await ask(telegram, ALICE, f"/subscribe {topic}", contains="Subscribed to")
        await bot.ticks.wait_polls(1)
        now = datetime.now(UTC)
        mark = telegram.mark()
        harbour_teaser = "Ships can enter Northport harbour again after the storms."
        publish(
            feeds, sites, "news", teaser(ARTICLE_TITLE, news.url("/harbour"), now, harbour_teaser)
        )
        publish(
            feeds,
            sites,
            "paywall",
            teaser("Northport doubles cruise fees", paywall.url("/fees"), now, paywall_teaser),
        )
        pilots_teaser = "Pilots in Northport stopped work on Monday over pay and rest hours."
        publish(
            feeds,
            sites,
            "robots",
            teaser("Northport pilots strike", robots.url("/pilots"), now, pilots_teaser),
        )
        harbour = await pushed(telegram, ALICE, "harbour reopens", mark)
        fees = await pushed(telegram, ALICE, "cruise fees", mark)
        pilots = await pushed(telegram, ALICE, "pilots strike", mark)

        # Read in the background, before anyone asks for the card.
        read = await article_settled(bot, harbour.story_id)
        assert read.state == "read" and "25 million euros" in read.text
        assert news.requests_for("/harbour"), "the page was read without a card being opened"
        card = await open_card(telegram, ALICE, harbour, ARTICLE_TITLE)
        points = points_of(card)
        assert 2 <= len(points) <= 4, card
        body = " ".join(ARTICLE)
        assert all(point in body for point in points), "whole sentences of the article's body"
        assert any(point not in harbour_teaser for point in points), "more than the teaser"
        assert "Reuters" not in card and "Sign up" not in card, "no dateline, no newsletter box"

        # The paywalled page and the one robots.txt refuses keep the card the feed gives.
        assert (await article_settled(bot, fees.story_id)).kind == "paywall"
        assert (await article_settled(bot, pilots.story_id)).kind == "robots"
        assert robots.requests_for("/robots.txt") and not robots.requests_for("/pilots")
        fees_card = await open_card(telegram, ALICE, fees, "Northport doubles cruise fees")
        assert points_of(fees_card) in ([], [paywall_teaser]), fees_card
        assert "Subscribe" not in fees_card and "subscriber" not in fees_card
        pilots_card = await open_card(telegram, ALICE, pilots, "Northport pilots strike")
        assert points_of(pilots_card) in ([], [pilots_teaser]), pilots_card
        assert "sunken barges" not in pilots_card
        assert len(paywall.requests_for("/fees")) == 1, "a paywall is never asked again"


async def test_hostile_pages_keep_the_teaser_card_and_the_bot_answers_meanwhile(
    telegram: FakeBotApi,
    feeds: FeedServer,
    sites: dict[str, ArticleHost],
    tmp_path: Path,
) -> None:
    hostile = sites["hostile"]
    trickled = article_html(ARTICLE_TITLE, ARTICLE).encode()
    hostile.set_page("/slow", Page(body=trickled, trickle=1.0))
    hostile.set_page("/huge", Page(body=b"<p>" + b"flood " * 10_000, stream_bytes=60 * 2**20))
    async with running_bot(telegram, feeds, tmp_path, feed_paths=seed(feeds, sites)) as bot:
        for topic in ("dredging", "lighthouse"):
            await ask(telegram, ALICE, f"/subscribe {topic}", contains="Subscribed to")
        await bot.ticks.wait_polls(1)
        now = datetime.now(UTC)
        mark = telegram.mark()
        slow_teaser = "Dredging of the Northport channel will start in May, the port said."
        huge_teaser = "The old lighthouse at Northport will become a museum next summer."
        publish(
            feeds,
            sites,
            "hostile",
            teaser("Northport dredging to begin", hostile.url("/slow"), now, slow_teaser),
            teaser("Lighthouse to become a museum", hostile.url("/huge"), now, huge_teaser),
        )
        slow = await pushed(telegram, ALICE, "dredging to begin", mark)
        huge = await pushed(telegram, ALICE, "become a museum", mark)
        # The huge page stops at the size cap: never read, never asked again.
        assert (await article_settled(bot, huge.story_id)).kind == "too_large"

        # The slow page is being read (a byte a second): the card waits a few seconds at most,
        # then goes out as the feed gave it, and other people are answered meanwhile.
        await until(lambda: hostile.requests_for("/slow"))
        started = time.monotonic()
        mark = telegram.mark()
        telegram.inject_callback_query(ALICE, slow.message_id, slow.data)
        answer = await ask(telegram, BOB, "/start")
        answered = time.monotonic() - started
        card = await telegram.wait_for_message(
            ALICE, contains="<b>Northport dredging to begin</b>", after=mark, timeout=30
        )
        assert answer and answered < 4.0, answered
        assert points_of(str(card["text"])) in ([], [slow_teaser])
        assert "sunken barges" not in str(card["text"])
        huge_card = await open_card(telegram, ALICE, huge, "Lighthouse to become a museum")
        assert points_of(huge_card) in ([], [huge_teaser]) and "flood" not in huge_card


async def test_with_article_fetching_off_no_page_is_asked_for(
    telegram: FakeBotApi,
    feeds: FeedServer,
    sites: dict[str, ArticleHost],
    tmp_path: Path,
) -> None:
    news = sites["news"]
    news.set_page("/harbour", article_html(ARTICLE_TITLE, ARTICLE))
    async with running_bot(
        telegram,
        feeds,
        tmp_path,
        feed_paths=seed(feeds, sites),
        extra_env={"NEWSBOT_FETCH_ARTICLES": "0"},
    ) as bot:
        await ask(telegram, ALICE, "/subscribe harbour", contains="Subscribed to")
        await bot.ticks.wait_polls(1)
        now = datetime.now(UTC)
        mark = telegram.mark()
        summary = "Ships can enter Northport harbour again after the storms."
        publish(feeds, sites, "news", teaser(ARTICLE_TITLE, news.url("/harbour"), now, summary))
        harbour = await pushed(telegram, ALICE, "harbour reopens", mark)
        polls = bot.ticks.polls
        await bot.ticks.wait_polls(polls + 2)
        card = await open_card(telegram, ALICE, harbour, ARTICLE_TITLE)
        assert points_of(card) in ([], [summary])
        assert news.requests == [], "not even robots.txt"
        assert await bot.work.storage.article(harbour.story_id) is None
