"""One event, one push, through the real bot: two outlets, one card, an "Also:" edit, a "More" card.

The real python-telegram-bot client talks to the fake Bot API server, the poller reads two feed
servers' feeds over HTTP, and stories are clustered as they arrive (issue 6).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi, RecordedCall
from tests.harness import RunningBot, ask, running_bot

ALICE = 1001
OLD = datetime(2024, 3, 1, tzinfo=UTC)
BBC_SEED = FeedItem(
    title="Gardeners prepare for a late spring frost",
    link="https://bbc.example/seed",
    summary="Allotment holders were told to cover young plants overnight.",
    published=OLD,
)
DW_SEED = FeedItem(
    title="Berlin orchestra announces new season",
    link="https://dw.example/seed",
    summary="The programme opens with Mahler's second symphony in September.",
    published=OLD,
)


# The stories the test publishes: title, link, summary and how many minutes before now.
REPORTS = {
    "bbc": (
        "Ukraine and Russia swap 300 prisoners in UAE-brokered exchange",
        "https://bbc.example/ukraine-prisoner-swap",
        "Ukraine and Russia exchanged 300 prisoners of war on Friday in a deal brokered by "
        "the United Arab Emirates. The soldiers crossed at the Belarus border near Chernihiv. "
        "Families of the freed prisoners gathered at a hospital in Chernihiv to meet them. "
        "The weather in the region was cold and grey for most of the morning. "
        # Past the 300 characters of the summary: only the story's stored body has it.
        "Officials said the exchange of prisoners was the largest since the talks in Istanbul "
        "and that the Emirates would broker another exchange of prisoners next month.",
        20,
    ),
    "dw": (
        "Kyiv and Moscow exchange 300 prisoners of war, UAE mediated",
        "https://dw.example/prisoner-exchange",
        "Russia and Ukraine carried out a prisoner exchange of 300 soldiers, mediated by the "
        "United Arab Emirates. The freed prisoners were taken to Chernihiv for medical checks.",
        8,
    ),
    "wheat": (
        "Ukraine's wheat exports through Black Sea ports hit a record",
        "https://bbc.example/ukraine-wheat",
        "Grain shipments from Odesa reached 6 million tonnes in October, the highest since "
        "the war began, as insurers cut premiums for cargo ships.",
        3,
    ),
}


def report(name: str, now: datetime) -> FeedItem:
    title, link, summary, minutes_ago = REPORTS[name]
    return FeedItem(title, link, summary=summary, published=now - timedelta(minutes=minutes_ago))


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    feeds.set_feed("/bbc.xml", rss_feed([BBC_SEED], title="BBC News"))
    feeds.set_feed("/dw.xml", rss_feed([DW_SEED], title="DW"))
    async with running_bot(
        telegram, feeds, tmp_path, feed_paths=("/bbc.xml", "/dw.xml")
    ) as running:
        yield running


def edits_of(telegram: FakeBotApi, message_id: int) -> list[RecordedCall]:
    return [
        call
        for call in telegram.calls_to("editMessageText")
        if int(call.params["message_id"]) == message_id
    ]


def button_data(params: dict[str, object]) -> str:
    markup = params["reply_markup"]
    keyboard = json.loads(markup) if isinstance(markup, str) else markup
    assert isinstance(keyboard, dict)
    return str(keyboard["inline_keyboard"][0][0]["callback_data"])


async def test_two_outlets_one_push_an_also_edit_a_more_card_and_a_separate_push(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    ticks = bot.ticks
    await ask(telegram, ALICE, "/subscribe ukraine", contains="Subscribed to")
    await ticks.wait_polls(1)
    now = datetime.now(UTC)

    # BBC reports the event first: one push, a "More" button under it.
    mark = telegram.mark()
    feeds.set_feed("/bbc.xml", rss_feed([report("bbc", now), BBC_SEED], title="BBC News"))
    pushed = await telegram.wait_for_message(ALICE, contains="swap 300 prisoners", after=mark)
    push_call = next(
        call
        for call in telegram.calls[mark:]
        if call.method == "sendMessage" and call.params is pushed
    )
    message_id = int(push_call.result["message_id"])
    data = button_data(pushed)
    assert data.startswith("card:") and len(data.encode()) < 64
    assert "Also:" not in pushed["text"]
    assert "Istanbul" not in pushed["text"], "the pushed card shows the short summary"

    # DW reports the same event: no second push, the first card is edited to name DW.
    mark = telegram.mark()
    feeds.set_feed("/dw.xml", rss_feed([report("dw", now), DW_SEED], title="DW"))
    edit = await telegram.wait_for_call(
        lambda call: call.method == "editMessageText" and not call.failed, after=mark
    )
    assert int(edit.params["message_id"]) == message_id
    assert "Also: DW" in str(edit.params["text"])
    assert "swap 300 prisoners" in str(edit.params["text"]), "the card keeps its story"
    assert button_data(edit.params) == data, "the edited card keeps its More button"
    shown = telegram.get_message(ALICE, message_id)
    assert shown is not None and "Also: DW" in shown["text"]

    # A third story on the same topic, about something else: its own push.
    mark = telegram.mark()
    feeds.set_feed(
        "/bbc.xml", rss_feed([report("wheat", now), report("bbc", now), BBC_SEED], title="BBC News")
    )
    await telegram.wait_for_message(ALICE, contains="wheat exports", after=mark)
    await ticks.wait_polls(ticks.polls + 2)
    story_pushes = [text for text in telegram.texts(ALICE) if "prisoner" in text or "wheat" in text]
    assert len(story_pushes) == 2, story_pushes
    assert len(edits_of(telegram, message_id)) == 1, "one edit, no repeats"

    # "More" opens the story card: key points, the other outlet's headline, related stories.
    mark = telegram.mark()
    telegram.inject_callback_query(ALICE, message_id, data)
    card = await telegram.wait_for_message(ALICE, contains="Keep in mind", after=mark)
    text = card["text"]
    assert text.startswith("<b>Ukraine and Russia swap 300 prisoners in UAE-brokered exchange</b>")
    points = text.split("<b>Keep in mind</b>\n", 1)[1].split("\n\n", 1)[0].split("\n")
    assert 2 <= len(points) <= 4 and all(point.startswith("• ") for point in points)
    assert any("largest since the talks in Istanbul" in point for point in points), (
        "key points come from the story's own text, past its summary"
    )
    assert not any("weather" in point for point in points), "the aside is not a key point"
    assert "Also reported by" in text
    assert 'href="https://dw.example/prisoner-exchange"' in text
    assert "Kyiv and Moscow exchange 300 prisoners of war" in text
    related = text.split("<b>Related</b>", 1)[1]
    assert "wheat exports" in related and "Grain shipments from Odesa" in related
    assert "prisoner" not in related, "the story's own event is not related to itself"
    answered = telegram.calls_to("answerCallbackQuery")
    assert answered, "the button tap is answered"

    # A second tap within the minute is answered, and posts no second card.
    mark = telegram.mark()
    telegram.inject_callback_query(ALICE, message_id, data)
    again = await telegram.wait_for_call(
        lambda call: call.method == "answerCallbackQuery", after=mark
    )
    assert "just above" in str(again.params.get("text", ""))
    assert sum("Keep in mind" in text for text in telegram.texts(ALICE)) == 1
