"""Groups run by their admins, and channels run from a private chat or from the channel itself.

Through the real PTB client and the fake Bot API: who is what in a chat is set on the fake
(`set_chat_member`), and the fake counts the bot's `getChatMember` calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot

from handlers.permissions import ADMIN_CHECK_TTL, AdminChecks
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, seeded_bot

ALICE = 1001  # the user of group messages in the fake
BOB = 2002
GROUP = -100700
CHANNEL = -1_001_234_567_890
BOT_ID = 123456  # from the fake's token
ONLY_ADMINS = "Only this group's admins can change this."


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with seeded_bot(telegram, feeds, tmp_path) as running:
        yield running


async def group_says(telegram: FakeBotApi, text: str, *, anonymous_admin: bool = False) -> str:
    mark = telegram.mark()
    telegram.inject_message(GROUP, text, chat_type="supergroup", anonymous_admin=anonymous_admin)
    return str((await telegram.wait_for_message(GROUP, after=mark))["text"])


@pytest.mark.parametrize(
    "command", ["/subscribe ukraine", "/unsubscribe ukraine", "/pause", "/resume", "/digest 08:00"]
)
async def test_a_member_may_not_change_what_a_group_receives(
    bot: RunningBot, telegram: FakeBotApi, command: str
) -> None:
    assert await group_says(telegram, command) == ONLY_ADMINS
    assert "no topics" in await group_says(telegram, "/subscriptions")


async def test_a_members_check_is_asked_once_and_reading_stays_open(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    for _ in range(3):
        assert await group_says(telegram, "/timezone Europe/Kyiv") == ONLY_ADMINS
    assert telegram.chat_member_calls(GROUP, ALICE) == 1, "cached per (chat, user)"

    assert "Latest on ukraine" in await group_says(telegram, "/latest ukraine")
    assert "/subscribe" in await group_says(telegram, "/help")
    assert "Example World News" in await group_says(telegram, "/sources")
    assert telegram.chat_member_calls(GROUP, ALICE) == 1, "reading needs no check"


@pytest.mark.parametrize("status", ["administrator", "creator"])
async def test_an_admin_changes_what_the_group_receives(
    bot: RunningBot, telegram: FakeBotApi, status: str
) -> None:
    telegram.inject_message(GROUP, "hello", chat_type="supergroup")  # Telegram now knows Alice
    telegram.set_chat_member(GROUP, ALICE, status)

    assert "Subscribed to: <b>ukraine</b>" in await group_says(telegram, "/subscribe ukraine")
    assert "Paused" in await group_says(telegram, "/pause")
    assert "• ukraine" in await group_says(telegram, "/subscriptions")


async def test_an_anonymous_admin_counts_as_an_admin(bot: RunningBot, telegram: FakeBotApi) -> None:
    said = await group_says(telegram, "/subscribe ukraine", anonymous_admin=True)

    assert "Subscribed to: <b>ukraine</b>" in said
    assert not telegram.calls_to("getChatMember", include_failed=True)


async def test_telegram_not_answering_the_check_is_said(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    telegram.drop_connections("getChatMember", times=10)

    said = await group_says(telegram, "/subscribe ukraine")

    assert "could not check" in said
    assert "no topics" in await group_says(telegram, "/subscriptions")


def channel_with(
    telegram: FakeBotApi,
    *,
    user: str = "administrator",
    user_posts: bool = True,
    bot_posts: bool = True,
) -> None:
    telegram.add_channel(CHANNEL, username="worldwire", title="World Wire")
    if user == "administrator":
        telegram.set_chat_member(CHANNEL, ALICE, user, can_post_messages=user_posts)
    else:
        telegram.set_chat_member(CHANNEL, ALICE, user)
    telegram.set_chat_member(CHANNEL, BOT_ID, "administrator", can_post_messages=bot_posts)


async def test_a_channel_admin_subscribes_the_channel_and_stories_are_posted_there(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    await ask(telegram, ALICE, "/start")  # Telegram knows Alice
    channel_with(telegram)

    said = await ask(telegram, ALICE, "/subscribe @worldwire ukraine")
    assert "Subscribed @worldwire to: <b>ukraine</b>" in said
    assert "• ukraine" in await ask(telegram, ALICE, f"/subscriptions {CHANNEL}")
    assert "no topics" in await ask(telegram, ALICE, "/subscriptions"), "not Alice's own"

    mark = telegram.mark()
    fresh = FeedItem(
        title="Ukraine opens a new grain corridor",
        link="https://news.example.org/world/grain-corridor",
        summary="Ships left Odesa.",
        published=datetime.now(UTC) - timedelta(minutes=3),
    )
    feeds.set_feed("/world.xml", rss_feed([fresh], title="Example World News").encode())
    await telegram.wait_for_message(CHANNEL, contains="new grain corridor", after=mark)

    assert "Unsubscribed @worldwire from: <b>ukraine</b>" in await ask(
        telegram, ALICE, "/unsubscribe @worldwire ukraine"
    )


@pytest.mark.parametrize(
    ("user", "bot_posts", "reason"),
    [
        ("member", True, "You are not an administrator of @worldwire"),
        ("left", True, "You are not an administrator of @worldwire"),
        ("creator", False, "I may not post in @worldwire"),
    ],
)
async def test_a_channel_is_refused_with_what_is_missing(
    bot: RunningBot, telegram: FakeBotApi, user: str, bot_posts: bool, reason: str
) -> None:
    await ask(telegram, ALICE, "/start")
    channel_with(telegram, user=user, bot_posts=bot_posts)

    assert reason in await ask(telegram, ALICE, "/subscribe @worldwire ukraine")
    assert reason in await ask(telegram, ALICE, "/subscriptions @worldwire")
    assert not telegram.delivered(CHANNEL)


NO_RIGHT = "You need the right to post messages in @worldwire to manage its news."


@pytest.mark.parametrize(
    "command",
    ["/subscribe @worldwire ukraine", "/settings @worldwire", "/subscriptions @worldwire"],
)
async def test_a_channel_admin_without_the_right_to_post_is_told_that_right_is_missing(
    bot: RunningBot, telegram: FakeBotApi, command: str
) -> None:
    await ask(telegram, ALICE, "/start")
    channel_with(telegram, user_posts=False)  # an admin who may, say, only delete messages

    assert NO_RIGHT in await ask(telegram, ALICE, command)
    assert "no topics" in await ask(telegram, ALICE, "/subscriptions"), "nor Alice's own"
    assert not telegram.delivered(CHANNEL)
    assert await bot.work.storage.chat_settings(CHANNEL) is None, "nothing stored for it"


@pytest.mark.parametrize("user", ["creator", "administrator"])
async def test_the_creator_and_an_admin_who_may_post_manage_the_channel(
    bot: RunningBot, telegram: FakeBotApi, user: str
) -> None:
    await ask(telegram, ALICE, "/start")
    channel_with(telegram, user=user, user_posts=True)

    said = await ask(telegram, ALICE, "/subscribe @worldwire ukraine")
    assert "Subscribed @worldwire to: <b>ukraine</b>" in said
    assert "Settings of @worldwire" in await ask(telegram, ALICE, "/settings @worldwire")


async def test_an_unknown_channel_is_named_not_crashed_on(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    said = await ask(telegram, ALICE, "/subscribe @nosuchchannel ukraine")
    assert "I cannot find the channel @nosuchchannel" in said


async def test_a_command_posted_in_the_channel_subscribes_it(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    telegram.add_channel(CHANNEL, username="worldwire", title="World Wire")

    mark = telegram.mark()
    telegram.inject_channel_post(CHANNEL, "/subscribe ukraine")
    said = await telegram.wait_for_message(CHANNEL, after=mark)
    assert "Subscribed to: <b>ukraine</b>" in said["text"]

    mark = telegram.mark()
    telegram.inject_channel_post(CHANNEL, "/subscriptions")
    assert "• ukraine" in (await telegram.wait_for_message(CHANNEL, after=mark))["text"]
    assert not telegram.calls_to("getChatMember", include_failed=True)


@pytest.mark.parametrize(
    ("language", "words"), [("en", "as an administrator"), ("uk", "адміністратором")]
)
async def test_help_tells_how_to_run_a_channel(
    bot: RunningBot, telegram: FakeBotApi, language: str, words: str
) -> None:
    said = await ask(telegram, ALICE, "/help", language_code=language)

    assert "/subscribe @yourchannel ukraine" in said and words in said


async def test_admin_answers_expire_and_stay_bounded(telegram: FakeBotApi, clock: Clock) -> None:
    for user in (1, 2, 3):
        telegram.inject_message(GROUP, "hi", chat_type="supergroup", user_id=user)
    telegram.set_chat_member(GROUP, 1, "administrator")
    checks = AdminChecks(clock, max_entries=2)
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        assert await checks.is_admin(bot, GROUP, 1)
        assert not await checks.is_admin(bot, GROUP, 2)
        assert not await checks.is_admin(bot, GROUP, 3)
        assert len(checks) == 2, "the least recently used answer went"

        telegram.set_chat_member(GROUP, 3, "administrator")  # promoted
        assert not await checks.is_admin(bot, GROUP, 3), "still the kept answer"
        clock.advance(seconds=ADMIN_CHECK_TTL.total_seconds())
        assert await checks.is_admin(bot, GROUP, 3), "asked again once it expired"
    assert [telegram.chat_member_calls(GROUP, user) for user in (1, 2, 3)] == [1, 1, 2]
