"""The bot's commands as a user meets them, through the real PTB client and a fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, seeded_bot

ALICE = 1001
DESK = -100500
SORRY = "something went wrong"


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with seeded_bot(telegram, feeds, tmp_path) as running:
        yield running


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/subscribe", "Which topic?"),
        ("/subscribe      ", "Which topic?"),
        ("/subscribe " + "x" * 500, "characters long"),
        ("/subscribe 🔥🚀", "no words"),
        ("/latest " + "y" * 500, "characters long"),
        ("/latest 🔥", "no words"),
        ("/unsubscribe 🔥", "no words"),
        ("/unsubscribe", "Which topic?"),
    ],
)
async def test_unusable_topics_get_a_reason(
    bot: RunningBot, telegram: FakeBotApi, command: str, expected: str
) -> None:
    answer = await ask(telegram, ALICE, command)

    assert expected in answer
    assert SORRY not in answer


@pytest.mark.parametrize(
    "topic",
    ['"', "*", "NEAR(ukraine", ")", "ukraine*", "'; DROP TABLE subscriptions; --", ") OR 1=1 --"],
)
async def test_query_syntax_and_sql_in_topics_are_answered_not_executed(
    bot: RunningBot, telegram: FakeBotApi, topic: str
) -> None:
    for command in ("/subscribe", "/latest"):
        answer = await ask(telegram, ALICE, f"{command} {topic}")
        assert answer and SORRY not in answer
    assert "Latest on ukraine" in await ask(telegram, ALICE, "/latest ukraine")
    assert SORRY not in await ask(telegram, ALICE, "/subscriptions")


async def test_subscriptions_can_be_listed_and_removed(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    assert "Subscribed to: <b>ukraine</b>" in await ask(telegram, ALICE, "/subscribe Ukraine")
    assert "already follow" in await ask(telegram, ALICE, "/subscribe UKRAINE")
    await ask(telegram, ALICE, "/subscribe peace talks")

    listing = await ask(telegram, ALICE, "/subscriptions")
    assert "• ukraine" in listing and "• peace talks" in listing

    assert "Unsubscribed from: <b>ukraine</b>" in await ask(telegram, ALICE, "/unsubscribe ukraine")
    missing = await ask(telegram, ALICE, "/unsubscribe ukraine")
    assert "You do not follow <b>ukraine</b>" in missing and "peace talks" in missing
    assert "ukraine" not in await ask(telegram, ALICE, "/subscriptions")


async def test_commands_work_in_groups_with_the_bot_name(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    telegram.set_chat_member(DESK, ALICE, "administrator")
    answer = await ask(telegram, DESK, "/subscribe@newsbot_test_bot russia", chat_type="supergroup")
    assert "Subscribed to: <b>russia</b>" in answer
    latest = await ask(telegram, DESK, "/latest@newsbot_test_bot ukraine", chat_type="supergroup")
    assert "Latest on ukraine" in latest


async def test_latest_takes_a_count_and_caps_it(bot: RunningBot, telegram: FakeBotApi) -> None:
    two = await ask(telegram, ALICE, "/latest ukraine 2")
    assert "1. " in two and "2. " in two and "3. " not in two

    mark = telegram.mark()
    telegram.inject_message(ALICE, "/latest ukraine 500")
    await telegram.wait_for_message(ALICE, contains="between 1 and 20", after=mark)

    overall = await ask(telegram, ALICE, "/latest")
    assert "Latest stories" in overall and "Language Models" not in overall
    assert overall.count("Read more") == 5


async def test_sources_shows_each_feed_and_its_last_fetch(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    answer = await ask(telegram, ALICE, "/sources")

    assert "Example World News" in answer
    assert "✓ fetched" in answer and "10 stories" in answer


async def test_help_and_unknown_commands(bot: RunningBot, telegram: FakeBotApi) -> None:
    assert "/subscribe" in await ask(telegram, ALICE, "/help")
    assert "/help" in await ask(telegram, ALICE, "/frobnicate")


async def test_more_button_pages_back_in_time_without_repeats(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    mark = telegram.mark()
    telegram.inject_message(ALICE, "/latest ukraine 2")
    first = await telegram.wait_for_message(ALICE, contains="Latest on ukraine", after=mark)
    [[button]] = first["reply_markup"]["inline_keyboard"]
    assert button["text"].startswith("More")
    assert len(button["callback_data"].encode()) < 64
    pages = [first["text"]]
    data = button["callback_data"]
    for _ in range(5):
        mark = telegram.mark()
        telegram.inject_callback_query(ALICE, _last_message_id(telegram, ALICE), data)
        page = await telegram.wait_for_message(ALICE, after=mark)
        pages.append(page["text"])
        markup = page.get("reply_markup")
        if not markup:
            break
        data = markup["inline_keyboard"][0][0]["callback_data"]

    headlines = [
        line
        for text in pages
        for line in text.splitlines()
        if line[:2] in {f"{n}." for n in range(1, 10)}
    ]
    assert len(headlines) == len(set(headlines)) == 7, "every Ukraine story once, none twice"
    assert "Older on ukraine" in pages[1]


def _last_message_id(telegram: FakeBotApi, chat_id: int) -> int:
    sends = [c for c in telegram.calls_to("sendMessage") if c.params.get("chat_id") == chat_id]
    return int(sends[-1].result["message_id"])


async def test_an_unknown_more_button_says_the_list_expired(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    await ask(telegram, ALICE, "/latest ukraine 1")
    mark = telegram.mark()
    telegram.inject_callback_query(ALICE, _last_message_id(telegram, ALICE), "more:zzz:1:1")
    answer = await telegram.wait_for_call(lambda c: c.method == "answerCallbackQuery", after=mark)
    assert "expired" in answer.params["text"]


async def test_pause_resume_and_a_daily_digest_in_a_time_zone(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    assert "Paused" in await ask(telegram, ALICE, "/pause")
    assert "Resumed" in await ask(telegram, ALICE, "/resume")

    assert "Unknown time zone “Mars/Olympus”" in await ask(
        telegram, ALICE, "/timezone Mars/Olympus"
    )
    assert "Europe/Kyiv" in await ask(telegram, ALICE, "/timezone Europe/Kyiv")
    assert "HH:MM" in await ask(telegram, ALICE, "/digest 25:99")
    answer = await ask(telegram, ALICE, "/digest 7:30")
    assert "Daily digest at 07:30 (Europe/Kyiv)" in answer

    assert bot.app.job_queue is not None
    [job] = bot.app.job_queue.get_jobs_by_name(f"digest:{ALICE}")
    fires = job.next_t
    assert fires is not None
    local = fires.astimezone(ZoneInfo("Europe/Kyiv"))
    assert (local.hour, local.minute) == (7, 30)

    assert "Digest off" in await ask(telegram, ALICE, "/digest off")
    assert not bot.app.job_queue.get_jobs_by_name(f"digest:{ALICE}")
