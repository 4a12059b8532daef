"""/latest's "More" button through the real client and the fake Bot API: paging far back holds
next to no memory, and an old button answers politely that its list has expired."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import timedelta
from pathlib import Path

from bot.wiring import utc_now
from handlers.common import PagedQuery, PagingQueries
from handlers.gateway import Gateway
from handlers.pacing import Limits
from storage import open_storage
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi, RecordedCall
from tests.harness import MACHINE_SPEED, RunningBot, seeded_bot, sent_to
from tests.stories import english_story, made_up

ALICE = 1001
PRESSES = 1000


def headline_of(n: int) -> str:
    return f"Zanzibar report {made_up(n, 'qu')}"


async def add_stories(bot: RunningBot, count: int, clock: Clock) -> None:
    """`count` stories on "zanzibar", one a minute back from three days ago, in the bot's
    database; each is an event of its own (no two share more than a word or two), so each
    is one entry of /latest."""
    storage = await open_storage(bot.settings.database_url)
    try:
        [source] = await storage.list_sources()
        drafts = [
            english_story(
                source.id,
                headline_of(n),
                entry_id=f"zanzibar-{n}",
                summary=" ".join(made_up(n, prefix) for prefix in ("vo", "ki", "lu", "mo", "ne")),
                link=f"https://news.example.org/zanzibar/{n}",
                published_at=clock() - timedelta(days=3, minutes=n),
            )
            for n in range(count)
        ]
        await storage.store_stories(drafts, now=clock())
    finally:
        await storage.close()


async def press_more(telegram: FakeBotApi, page: RecordedCall) -> RecordedCall:
    data = page.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    mark = telegram.mark()
    telegram.inject_callback_query(ALICE, int(page.result["message_id"]), data)
    return await telegram.wait_for_call(sent_to(ALICE, "Older on zanzibar"), after=mark)


async def test_a_thousand_more_presses_hold_under_20_mb(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, clock: Clock
) -> None:
    # Telegram paces one chat to a message a second; this test is about memory, not that wait,
    # so the bot's gateway (and only its per-chat limit) is relaxed as for a local Bot API, and
    # the budget of button presses (a person presses a dozen a minute, not a thousand).
    gateway = Gateway(Limits(global_per_second=1000, private_interval=0.0))
    async with seeded_bot(
        telegram, feeds, tmp_path, gateway=gateway, admission=MACHINE_SPEED
    ) as bot:
        await add_stories(bot, PRESSES + 5, Clock(utc_now()))
        mark = telegram.mark()
        telegram.inject_message(ALICE, "/latest zanzibar 1")
        page = await telegram.wait_for_call(sent_to(ALICE, "Latest on zanzibar"), after=mark)
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            headlines = []
            for _ in range(PRESSES):
                page = await press_more(telegram, page)
                [headline] = [
                    line for line in page.params["text"].split("\n") if line.startswith("1. ")
                ]
                headlines.append(headline)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()

    print(f"{PRESSES} More presses: {held / 1e6:.2f} MB held")
    assert held < 20 * 1024 * 1024
    assert len(set(headlines)) == PRESSES, "every page a new story, none twice"
    assert headlines[-1] == f"1. <b>{headline_of(PRESSES)}</b>"


async def test_an_expired_more_button_says_so_politely(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, clock: Clock
) -> None:
    async with seeded_bot(telegram, feeds, tmp_path, clock=clock) as bot:
        await add_stories(bot, 5, clock)
        mark = telegram.mark()
        telegram.inject_message(ALICE, "/latest zanzibar 1")
        page = await telegram.wait_for_call(sent_to(ALICE, "Latest on zanzibar"), after=mark)
        page = await press_more(telegram, page)
        clock.advance(hours=25)

        data = page.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        mark = telegram.mark()
        telegram.inject_callback_query(ALICE, int(page.result["message_id"]), data)
        answer = await telegram.wait_for_call(
            lambda call: call.method == "answerCallbackQuery", after=mark
        )

    assert (
        answer.params["text"] == "This list has expired. Send /latest again for the newest stories."
    )
    assert answer.params.get("show_alert") is True
    assert not [c for c in telegram.calls[mark:] if c.method == "sendMessage"]


def test_paging_state_is_bounded_per_chat_and_in_bytes_and_expires(clock: Clock) -> None:
    queries = PagingQueries(clock, per_chat=3, max_bytes=10_000, ttl=timedelta(hours=1))
    first = queries.remember(PagedQuery(ALICE, "ukraine", 5))
    assert queries.remember(PagedQuery(ALICE, "ukraine", 5)) == first, "one entry per list"
    for n in range(5):
        queries.remember(PagedQuery(ALICE, f"topic {n}", 5))
    assert len(queries) == 3 and queries.get(first, ALICE) is None, "a chat's oldest goes"
    for chat in range(100):
        queries.remember(PagedQuery(chat, "x" * 200, 5))
    assert queries.bytes <= 10_000 and len(queries) == 10_000 // (400 + 200)
    newest = queries.remember(PagedQuery(ALICE, "peace talks", 5))
    assert queries.get(newest, ALICE) == PagedQuery(ALICE, "peace talks", 5)
    assert queries.get(newest, 99) is None, "a token is good only in its chat"
    clock.advance(minutes=59)
    assert queries.get(newest, ALICE) is not None
    clock.advance(minutes=61)
    assert queries.get(newest, ALICE) is None and len(queries) == 0
