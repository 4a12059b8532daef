"""Inline mode as a user meets it: `@bot topic` in any chat, through the real PTB client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import escape, unescape
from pathlib import Path
from typing import Any

import pytest

from handlers.i18n import texts_in
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, seeded_bot

ALICE = 1001


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with seeded_bot(telegram, feeds, tmp_path) as running:
        yield running


async def inline(
    telegram: FakeBotApi, query: str, *, offset: str = "", language_code: str = "en"
) -> dict[str, Any]:
    """Type `@bot query` as Alice; the bot's accepted answer."""
    mark = telegram.mark()
    query_id = telegram.inject_inline_query(
        ALICE, query, offset=offset, language_code=language_code
    )
    await telegram.wait_for_call(
        lambda call: (
            call.method == "answerInlineQuery" and call.params.get("inline_query_id") == query_id
        ),
        after=mark,
    )
    assert query_id in telegram.inline_answers, telegram.describe_calls(mark)
    return telegram.inline_answers[query_id]


def headlines(listing: str) -> list[str]:
    return [unescape(title) for title in re.findall(r"^\d+\. <b>(.*?)</b>", listing, re.M)]


async def test_a_topic_offers_the_newest_matching_events_as_story_cards(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    answer = await inline(telegram, "ukraine")

    results = answer["results"]
    listing = await ask(telegram, ALICE, "/latest ukraine 10")
    assert [result["title"] for result in results] == headlines(listing)
    first = results[0]
    assert first["type"] == "article"
    assert first["description"].startswith("Example World News · ")
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert content["message_text"].startswith(f"<b>{escape(first['title'])}</b>")
    assert "<i>Example World News</i> · " in content["message_text"]
    assert content["link_preview_options"] == {"is_disabled": True}  # as a pushed card
    assert 0 < answer["cache_time"] <= 60


@pytest.mark.parametrize(("language", "query"), [("en", "ukraine"), ("uk", ""), ("de", "-x")])
async def test_answers_in_the_users_language_are_never_shared_with_another_user(
    bot: RunningBot, telegram: FakeBotApi, language: str, query: str
) -> None:
    # Telegram would show a shared answer, cached for `cache_time`, to anyone typing the same
    # query: a German reader would get the Ukrainian ages and cards.
    answer = await inline(telegram, query, language_code=language)

    assert answer["results"]
    assert answer["is_personal"] is True


async def test_an_empty_query_offers_the_newest_stories_and_pages_on(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    first = await inline(telegram, "")
    newest = headlines(await ask(telegram, ALICE, "/latest"))  # the five newest
    assert [result["title"] for result in first["results"]][:5] == newest
    assert "next_offset" not in first, "the seed's 10 stories fit on one page"

    now = datetime.now(UTC)
    words = ["harbour", "glacier", "violin", "orchard", "comet", "lantern", "canyon", "pepper"]
    items = [
        FeedItem(
            title=f"{first_word.title()} and {second_word} news",
            link=f"https://news.example/{first_word}-{second_word}",
            published=now - timedelta(minutes=len(words) * number + other),
        )
        for number, first_word in enumerate(words)
        for other, second_word in enumerate(words[:3])
        if first_word != second_word
    ]
    feeds.set_feed("/world.xml", rss_feed(items, title="Example World News"))
    await bot.ticks.wait_polls(bot.ticks.polls + 2)

    seen: list[str] = []
    offset = ""
    for _ in range(10):
        page = await inline(telegram, "", offset=offset)
        assert page["results"]
        seen += [result["id"] for result in page["results"]]
        offset = page.get("next_offset", "")
        if not offset:
            break
    assert len(seen) == len(set(seen)), "no event is offered twice while paging"
    assert len(seen) > 10


async def test_a_topic_that_cannot_be_parsed_offers_one_result_saying_why(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    answer = await inline(telegram, "-sports", language_code="uk")

    [result] = answer["results"]
    ukrainian = texts_in("uk")
    assert result["title"] == ukrainian._("I cannot search for that") != "I cannot search for that"
    reason = ukrainian._(
        "That topic only says what to leave out. Add a word to look for, as in: ukraine -sports"
    )
    assert result["description"] == reason[:120]
    assert result["input_message_content"]["message_text"] == reason
    assert reason != texts_in("en")._(
        "That topic only says what to leave out. Add a word to look for, as in: ukraine -sports"
    )


async def test_the_bot_asks_telegram_for_inline_queries(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    # Under load the bot's first long poll may still be on its way when the test starts.
    poll = await telegram.wait_for_call(
        lambda call: (
            call.method == "getUpdates" and "inline_query" in call.params.get("allowed_updates", [])
        )
    )
    assert poll.method == "getUpdates"
