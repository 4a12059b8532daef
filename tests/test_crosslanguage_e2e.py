"""One event in two languages, one push, through the real bot (issue 23).

The real python-telegram-bot client talks to the fake Bot API server; the poller reads an
English and a German outlet's feeds over HTTP, computes the stories' meanings with the bundled
encoder (`news.meaning`) and clusters them: the German report of the event the chat was pushed
in English joins it (an "Also:" edit naming the German outlet, no second push); a German story
on the same country and town about another happening is pushed on its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, running_bot

ALICE = 1001
OLD = datetime(2024, 3, 1, tzinfo=UTC)
BBC_SEED = FeedItem(
    title="Gardeners prepare for a late spring frost",
    link="https://bbc.example/seed",
    summary="Allotment holders were told to cover young plants overnight.",
    published=OLD,
)
TAGESSCHAU_SEED = FeedItem(
    title="Berliner Philharmoniker stellen neue Saison vor",
    link="https://tagesschau.example/seed",
    summary="Das Programm beginnt im September mit Mahlers zweiter Sinfonie.",
    published=OLD,
)
SWAP_EN = (
    "Ukraine and Russia swap 300 prisoners in UAE-brokered exchange",
    "https://bbc.example/ukraine-prisoner-swap",
    "Ukraine and Russia exchanged 300 prisoners of war on Friday in a deal brokered by the "
    "United Arab Emirates. The soldiers crossed at the Belarus border near Chernihiv.",
    20,
)
SWAP_DE = (
    "Ukraine und Russland tauschen 300 Kriegsgefangene aus",
    "https://tagesschau.example/gefangenenaustausch",
    "Unter Vermittlung der Vereinigten Arabischen Emirate haben die Ukraine und Russland je "
    "300 Soldaten freigelassen. Die Heimkehrer wurden in Tschernihiw medizinisch versorgt.",
    8,
)
# The same country and town, the same day, another happening.
DRONES_DE = (
    "Ukraine: Russische Drohnen treffen Kraftwerk bei Tschernihiw",
    "https://tagesschau.example/drohnen-tschernihiw",
    "Bei einem nächtlichen Angriff auf die Energieversorgung im Norden der Ukraine fiel in "
    "Tausenden Haushalten der Strom aus, teilte der Gouverneur mit.",
    3,
)


def button_data(params: dict[str, object]) -> str:
    markup = params["reply_markup"]
    keyboard = json.loads(markup) if isinstance(markup, str) else markup
    assert isinstance(keyboard, dict)
    return str(keyboard["inline_keyboard"][0][0]["callback_data"])


def item(report: tuple[str, str, str, int], now: datetime) -> FeedItem:
    title, link, summary, minutes_ago = report
    return FeedItem(title, link, summary=summary, published=now - timedelta(minutes=minutes_ago))


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    feeds.set_feed("/bbc.xml", rss_feed([BBC_SEED], title="BBC News"))
    feeds.set_feed(
        "/tagesschau.xml", rss_feed([TAGESSCHAU_SEED], title="tagesschau", language="de")
    )
    async with running_bot(
        telegram, feeds, tmp_path, feed_paths=("/bbc.xml", "/tagesschau.xml")
    ) as running:
        yield running


async def test_a_german_report_of_a_pushed_english_event_is_an_also_edit_not_a_push(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    ticks = bot.ticks
    await ask(telegram, ALICE, "/subscribe ukraine", contains="Subscribed to")
    await ticks.wait_polls(2)
    now = datetime.now(UTC)

    # The English report: one push.
    mark = telegram.mark()
    feeds.set_feed("/bbc.xml", rss_feed([item(SWAP_EN, now), BBC_SEED], title="BBC News"))
    await telegram.wait_for_message(ALICE, contains="swap 300 prisoners", after=mark)
    push = next(
        call
        for call in telegram.calls[mark:]
        if call.method == "sendMessage" and "swap 300 prisoners" in str(call.params["text"])
    )
    message_id = int(push.result["message_id"])

    # The German report of the same event: the English card is edited to name tagesschau.
    mark = telegram.mark()
    feeds.set_feed(
        "/tagesschau.xml",
        rss_feed([item(SWAP_DE, now), TAGESSCHAU_SEED], title="tagesschau", language="de"),
    )
    edit = await telegram.wait_for_call(
        lambda call: call.method == "editMessageText" and not call.failed, after=mark
    )
    assert int(edit.params["message_id"]) == message_id
    assert "Also: tagesschau" in str(edit.params["text"])
    assert "swap 300 prisoners" in str(edit.params["text"]), "the card keeps its story"

    # "More" opens the story card: the German report is listed under its outlet.
    mark = telegram.mark()
    telegram.inject_callback_query(ALICE, message_id, button_data(push.params))
    card = await telegram.wait_for_message(ALICE, contains="Also reported by", after=mark)
    also = str(card["text"]).split("Also reported by", 1)[1]
    assert "tagesschau" in also
    assert 'href="https://tagesschau.example/gefangenenaustausch"' in also
    assert "Ukraine und Russland tauschen 300 Kriegsgefangene aus" in also

    # /latest lists the event once, led by the report in the reader's language.
    pushes_before_latest = len(telegram.calls_to("sendMessage"))
    latest = await ask(telegram, ALICE, "/latest ukraine", contains="swap 300 prisoners")
    assert "Kriegsgefangene" not in latest

    # Another happening in the same country and town: a push of its own, and the German
    # report of the swap was never pushed.
    mark = telegram.mark()
    feeds.set_feed(
        "/tagesschau.xml",
        rss_feed(
            [item(DRONES_DE, now), item(SWAP_DE, now), TAGESSCHAU_SEED],
            title="tagesschau",
            language="de",
        ),
    )
    await telegram.wait_for_message(ALICE, contains="Drohnen treffen Kraftwerk", after=mark)
    await ticks.wait_polls(ticks.polls + 2)
    pushed = [
        str(call.params["text"])
        for number, call in enumerate(telegram.calls_to("sendMessage"))
        if int(call.params["chat_id"]) == ALICE
        and number != pushes_before_latest  # the answer to /latest
        and "Also reported by" not in str(call.params["text"])  # the story card
    ]
    assert not [text for text in pushed if "Kriegsgefangene" in text]
    assert len([text for text in pushed if "swap 300 prisoners" in text]) == 1
