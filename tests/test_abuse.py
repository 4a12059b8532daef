"""No one can stall the bot: one member's flood, inline and button floods, other bots' commands.

The whole bot runs in the test's loop (`tests.harness.running_bot`) against the fake Bot API on
loopback, which enforces Telegram's limits; each test is what an abuser (or an eager user)
does, and what everyone else must still see. The gateway's rules (a fair share for pushes,
busy chats after calm ones, a reply's deadline) are also checked on the real client with a
virtual clock.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import ExtBot

from handlers.admission import SLOW_DOWN, AdmittedUpdates
from handlers.gateway import Gateway, Priority, ReplyExpired
from handlers.pacing import AdmissionLimits, Limits
from handlers.telegram_http import AiohttpRequest
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi, RecordedCall
from tests.harness import RunningBot, ask, client_through, running_bot, seeded_bot, sent_to
from tests.test_gateway import VirtualTime, tracebacks
from tests.test_health import metric

ALICE = 1001
BOB = 1002
FLOODER = 7
GROUP = -1_001_234
EMPTY_FEED = "<rss version='2.0'><channel><title>W</title></channel></rss>"
FLOOD = 300


def refused(running: RunningBot) -> int:
    """How many updates the bot has refused on arrival so far."""
    updates = running.app.update_processor
    assert isinstance(updates, AdmittedUpdates)
    return sum(updates.refused.values())


def answers_with(chat_id: int, text: str, count: int) -> Callable[[RecordedCall], bool]:
    """A predicate true at the `count`-th successful message to `chat_id` containing `text`."""
    seen = 0

    def predicate(call: RecordedCall) -> bool:
        nonlocal seen
        if sent_to(chat_id, text)(call):
            seen += 1
        return seen == count

    return predicate


async def test_one_member_flooding_a_group_delays_no_one_and_spends_under_its_minute(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """300 /help from one member of a supergroup, then /start from an unrelated user."""
    telegram.enforce_limits(global_per_second=30, private_per_second=1)
    feeds.set_feed("/world.xml", EMPTY_FEED)
    async with running_bot(telegram, feeds, tmp_path) as running:
        for _ in range(FLOOD):
            telegram.inject_message(GROUP, "/help", chat_type="supergroup", user_id=FLOODER)
        asked = time.monotonic()
        telegram.inject_message(ALICE, "/start")
        await telegram.wait_for_message(ALICE, contains="news bot")
        answered_in = time.monotonic() - asked
        # Updates are judged in the order they come: the whole flood before Alice's /start.
        admitted = AdmissionLimits().user_commands.count
        assert refused(running) == FLOOD - admitted
        exposition = running.work.metrics.exposition().decode()
        await telegram.wait_for_call(answers_with(GROUP, "What I can do", admitted), timeout=30)
        group = telegram.texts(GROUP)

    print(f"flood of {FLOOD}: unrelated /start answered in {answered_in:.2f} s")
    assert answered_in <= 3.0
    assert sum("What I can do" in text for text in group) == admitted
    assert group.count(SLOW_DOWN) == 1
    assert len(group) <= 20, "the group's minute of messages is not spent on one member"
    labels = {"role": "all", "kind": "command", "reason": "budget"}
    assert metric(exposition, "newsbot_updates_refused_total", **labels) == FLOOD - admitted
    assert telegram.too_many_requests == 0
    assert tracebacks(caplog) == []


async def test_other_members_of_a_flooded_group_are_still_answered(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/world.xml", EMPTY_FEED)
    async with running_bot(telegram, feeds, tmp_path):
        for _ in range(30):
            telegram.inject_message(GROUP, "/help", chat_type="group", user_id=FLOODER)
        await telegram.wait_for_message(GROUP, contains="Slow down")
        after = telegram.mark()
        telegram.inject_message(GROUP, "/subscriptions", chat_type="group", user_id=8)
        await telegram.wait_for_message(GROUP, contains="follows no topics", after=after)

    assert telegram.texts(GROUP).count(SLOW_DOWN) == 1


async def test_other_bots_commands_and_chatter_cost_a_user_nothing(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    """Where the bot sees every message of a group: `/roll@dicebot` is not ours to count."""
    feeds.set_feed("/world.xml", EMPTY_FEED)
    async with running_bot(telegram, feeds, tmp_path) as running:
        for n in range(40):
            telegram.inject_message(GROUP, "/roll@dicebot", chat_type="group", user_id=FLOODER)
            telegram.inject_message(GROUP, f"/unknown{n}", chat_type="group", user_id=FLOODER)
            telegram.inject_message(GROUP, f"chatter {n}", chat_type="group", user_id=FLOODER)
        answer = await ask(
            telegram, GROUP, "/subscriptions@Newsbot_Test_Bot", chat_type="group", contains="topics"
        )
        assert refused(running) == 0

    assert "follows no topics" in answer
    assert SLOW_DOWN not in telegram.texts(GROUP)


# Three events that share nothing but the country, so each is a push of its own.
UKRAINE_STORIES = (
    ("Ukraine resumes grain exports from Odesa port", "Ships left harbour at dawn."),
    ("Ukraine's parliament passes the new budget law", "Deputies voted late on Tuesday."),
    ("Drone strike cuts power in Kharkiv, Ukraine", "Repair crews worked overnight."),
)


def ukraine_story(n: int) -> FeedItem:
    title, summary = UKRAINE_STORIES[n]
    link = f"https://news.example.org/world/ukraine-{n}"
    return FeedItem(title=title, link=link, summary=summary)


async def push_delay(telegram: FakeBotApi, feeds: FeedServer, n: int) -> float:
    """Seconds from a new Ukraine story in the feed to its push to Bob."""
    mark = telegram.mark()
    changed = time.monotonic()
    feeds.set_feed("/world.xml", rss_feed([ukraine_story(k) for k in range(n + 1)]))
    headline = UKRAINE_STORIES[n][0].replace("'", "&#x27;")
    pushed = await telegram.wait_for_call(sent_to(BOB, headline[:20]), after=mark, timeout=60)
    return pushed.at - changed


async def test_inline_and_button_floods_delay_a_due_push_by_seconds_at_most(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """200 inline queries and 40 presses of one "More" button from one user, on a bot whose
    send rate is 5 a second: Bob's push of a due story still comes within seconds."""
    telegram.enforce_limits(global_per_second=30, private_per_second=1)
    async with seeded_bot(
        telegram, feeds, tmp_path, extra_env={"NEWSBOT_SEND_RATE": "5"}
    ) as running:
        await ask(telegram, BOB, "/subscribe ukraine", contains="Subscribed")
        mark = telegram.mark()
        telegram.inject_message(GROUP, "/latest ukraine 1", chat_type="group", user_id=FLOODER)
        page = await telegram.wait_for_call(sent_to(GROUP, "Latest on"), after=mark)
        [[more]] = page.params["reply_markup"]["inline_keyboard"]
        await running.ticks.wait_polls(running.ticks.polls + 1)
        quiet = await push_delay(telegram, feeds, 1)

        for n in range(200):
            telegram.inject_inline_query(FLOODER, f"ukraine {n}")
        for _ in range(40):
            telegram.inject_callback_query(
                GROUP, int(page.result["message_id"]), more["callback_data"], user_id=FLOODER
            )
        flooded = await push_delay(telegram, feeds, 2)
        await ask(telegram, ALICE, "/start", contains="news bot")  # the floods were judged
        limits = AdmissionLimits()
        assert refused(running) == 200 - limits.user_inline.count + 40 - limits.group_buttons.count

    print(f"push delay: {quiet:.2f} s quiet, {flooded:.2f} s during the flood")
    assert flooded <= quiet + 5.0
    assert len(telegram.inline_answers) <= AdmissionLimits().user_inline.count
    pages = [text for text in telegram.texts(GROUP) if "Older on" in text]
    assert len(pages) <= AdmissionLimits().group_buttons.count
    assert tracebacks(caplog) == []


def command_update(update_id: int, chat: int, user: int, text: str, bot: ExtBot[None]) -> Update:
    """An update with a command, as Telegram sends it."""
    command = text.split()[0]
    data = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat, "type": "group", "title": "G"},
            "from": {"id": user, "is_bot": False, "first_name": "A"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        },
    }
    return Update.de_json(data, bot)


async def test_a_chat_waiting_for_its_turn_holds_no_slot_another_chat_needs() -> None:
    """Two slots: chat A's first update runs (and hangs), its next two wait for their turn;
    chat B's update still gets the second slot."""
    async with (
        FakeBotApi() as api,
        ExtBot(api.token, base_url=api.base_url, request=AiohttpRequest()) as bot,
    ):
        updates = AdmittedUpdates(concurrency=2)
        updates.known_commands = frozenset({"help"})
        hang, b_ran = asyncio.Event(), asyncio.Event()

        async def handle(event: asyncio.Event | None = None, wait: bool = False) -> None:
            if event is not None:
                event.set()
            if wait:
                await hang.wait()

        chat_a = [
            asyncio.create_task(
                updates.process_update(
                    command_update(n, -1, 10 + n, "/help", bot), handle(wait=n == 1)
                )
            )
            for n in (1, 2, 3)
        ]
        chat_b = asyncio.create_task(
            updates.process_update(command_update(4, -2, 20, "/help", bot), handle(b_ran))
        )
        async with asyncio.timeout(5):
            await b_ran.wait()
        hang.set()
        await asyncio.gather(*chat_a, chat_b)


async def test_pushes_keep_a_quarter_of_the_rate_while_replies_wait() -> None:
    vtime = VirtualTime()
    gateway = Gateway(Limits(global_per_second=10), monotonic=vtime.monotonic, sleep=vtime.sleep)
    async with client_through(gateway) as (api, bot):
        replies = [
            asyncio.create_task(bot.send_message(chat, "reply")) for chat in range(3000, 3040)
        ]
        pushes = [
            asyncio.create_task(bot.send_message(chat, "push", rate_limit_args=Priority.PUSH))
            for chat in range(2000, 2005)
        ]
        await asyncio.gather(*replies, *pushes)
        order = [message["text"] for message in api.delivered()]

    positions = [index for index, text in enumerate(order) if text == "push"]
    assert positions[0] <= 3, "a push waits behind three replies at most"
    assert [b - a for a, b in itertools.pairwise(positions)] == [4] * 4, order


async def test_replies_to_a_busy_chat_wait_behind_replies_to_calm_chats() -> None:
    vtime = VirtualTime()
    gateway = Gateway(Limits(global_per_second=10), monotonic=vtime.monotonic, sleep=vtime.sleep)
    gateway.busy = lambda chat: chat == GROUP
    async with client_through(gateway) as (api, bot):
        flood = [asyncio.create_task(bot.send_message(GROUP, "busy")) for _ in range(10)]
        calm = asyncio.create_task(bot.send_message(ALICE, "calm"))
        await asyncio.gather(*flood, calm)
        order = [int(message["chat_id"]) for message in api.delivered()]

    assert order.index(ALICE) <= 1, order


async def test_replies_queued_before_their_chat_turned_busy_go_behind_calm_ones() -> None:
    """A group's first replies queue while it still looks calm; once its flood makes it busy,
    they wait behind a calm chat's reply that came after them."""
    vtime = VirtualTime()
    gateway = Gateway(Limits(global_per_second=10), monotonic=vtime.monotonic, sleep=vtime.sleep)
    flooding = False
    gateway.busy = lambda chat: flooding and chat == GROUP

    async def flood_is_seen() -> None:
        nonlocal flooding
        flooding = True

    async with client_through(gateway) as (api, bot):
        early = [asyncio.create_task(bot.send_message(GROUP, "early")) for _ in range(10)]
        calm = asyncio.create_task(bot.send_message(ALICE, "calm"))
        seen = asyncio.create_task(flood_is_seen())  # runs before the first slot is handed out
        await asyncio.gather(*early, calm, seen)
        order = [int(message["chat_id"]) for message in api.delivered()]

    assert order.index(ALICE) <= 1, order


async def test_a_reply_that_cannot_leave_within_a_minute_is_dropped_not_sent_late(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram holds Alice's chat for 90 s (on the gateway's virtual clock): her first /help
    is dropped at its minute, quietly; the next, asked later, is answered."""
    feeds.set_feed("/world.xml", EMPTY_FEED)
    vtime = VirtualTime()
    gateway = Gateway(Limits(global_per_second=25), monotonic=vtime.monotonic, sleep=vtime.sleep)
    async with running_bot(telegram, feeds, tmp_path, gateway=gateway):
        telegram.fail_with_retry_after("sendMessage", 90, chat_id=ALICE, times=1)
        telegram.inject_message(ALICE, "/help")
        # Alice's next command runs once her /help is done with (one chat's updates in order).
        reply = await ask(telegram, ALICE, "/subscriptions", contains="topics")
        assert gateway.replies_expired == 1

    assert "no topics" in reply
    assert not any("What I can do" in text for text in telegram.texts(ALICE))
    assert not any("went wrong" in text for text in telegram.texts(ALICE))
    dropped = [r for r in caplog.records if "replies dropped" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.WARNING
    assert tracebacks(caplog) == []


async def test_the_deadline_spares_the_calls_that_start_the_bot() -> None:
    """A reply raises `ReplyExpired` at its deadline; `getMe` keeps waiting for its slot."""
    vtime = VirtualTime()
    gateway = Gateway(Limits(global_per_second=25), monotonic=vtime.monotonic, sleep=vtime.sleep)
    async with client_through(gateway) as (api, bot):
        gateway.pacer.retry_after(None, vtime.now, 120)
        began = vtime.now
        me = await bot.get_me()
        assert vtime.now - began >= 120, "getMe waited out the whole 429"
        gateway.pacer.retry_after(None, vtime.now, 120)
        with pytest.raises(ReplyExpired):
            await bot.send_message(ALICE, "late")
    assert me.is_bot
    assert api.delivered() == []
