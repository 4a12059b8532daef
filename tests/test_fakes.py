"""Prove the test fakes speak their protocols: the real PTB client against `FakeBotApi`, httpx
and feedparser against `FeedServer` and the `feeds` builders."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import feedparser
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    ChatMemberAdministrator,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    MessageEntity,
    Update,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, atom_feed, rss_feed
from tests.fakes.telegram import FakeBotApi, RecordedCall
from tests.fakes.telegram.limits import RateLimiter, RateLimits, Window
from tests.fakes.telegram.text_rules import HtmlParseError, parse_html, utf16_len


@pytest.fixture
def fake(telegram: FakeBotApi) -> FakeBotApi:
    """conftest's fake Bot API, under the name these tests give it."""
    return telegram


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as real_bot:
        yield real_bot


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


def is_method(name: str) -> Callable[[RecordedCall], bool]:
    def predicate(call: RecordedCall) -> bool:
        return call.method == name

    return predicate


# ---------------------------------------------------------------------------- Bot API basics


async def test_base_url_has_ptb_form(fake: FakeBotApi) -> None:
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/bot"
    assert fake.port > 0


async def test_get_me_through_the_real_client(fake: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.is_bot
    assert me.id == 123456
    assert me.username == "newsbot_test_bot" == bot.username
    assert me.can_join_groups is True
    assert fake.calls[0].method == "getMe"  # Bot.initialize() asks first
    assert fake.bot_user["username"] == "newsbot_test_bot"


async def test_send_message_records_decoded_params_and_returns_a_message(
    fake: FakeBotApi, bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])

    message = await bot.send_message(
        chat_id=42,
        text="<b>Hi</b> &amp; welcome",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    second = await bot.send_message(chat_id=42, text="again")

    assert message.message_id == 1 and second.message_id == 2
    assert message.chat.id == 42 and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.id == bot.id
    assert message.text == "Hi & welcome"
    assert message.entities == (MessageEntity(MessageEntity.BOLD, 0, 2),)
    assert message.reply_markup == keyboard
    assert isinstance(message.date, datetime)

    params = fake.delivered(42)[0]
    assert params["chat_id"] == 42  # an int again, not the string PTB put in the form
    assert params["parse_mode"] == "HTML"
    assert params["text"] == "<b>Hi</b> &amp; welcome"  # recorded as sent
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]
    }
    assert params["link_preview_options"] == {"is_disabled": True}
    assert fake.texts(42) == ["<b>Hi</b> &amp; welcome", "again"]
    assert fake.texts(43) == []
    assert fake.get_message(42, 1) is not None


async def test_multipart_uploads_are_decoded(fake: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(chat_id=5, text="first")
    document = await bot.send_document(chat_id=5, document=b"story archive", filename="a.txt")

    assert document.document is not None
    assert document.document.file_name == "a.txt"
    assert document.document.file_size == len(b"story archive")
    assert document.message_id == 2
    params = fake.calls_to("sendDocument")[0].params
    assert params["chat_id"] == 5
    assert params["document"]["filename"] == "a.txt"
    assert params["document"]["data"] == b"story archive"


async def test_string_params_that_look_like_json_stay_strings(fake: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(chat_id=5, text="42")
    await bot.send_message(chat_id=5, text="true")

    assert fake.texts(5) == ["42", "true"]


async def test_invalid_html_is_rejected_like_telegram(fake: FakeBotApi, bot: Bot) -> None:
    # PTB strips the "Bad Request: " prefix and capitalises the rest.
    with pytest.raises(BadRequest, match='unsupported start tag "" at byte offset 5'):
        await bot.send_message(chat_id=5, text="Cats < Dogs", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(chat_id=5, text="<b> </b>", parse_mode=ParseMode.HTML)

    failed = fake.calls_to("sendMessage", include_failed=True)
    assert [call.failed for call in failed] == [True, True]
    assert failed[0].error_code == 400
    assert failed[0].description == (
        'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 5'
    )
    assert fake.delivered() == []


async def test_too_long_text_and_callback_data_are_rejected(fake: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(chat_id=5, text="x" * 4097)
    too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(chat_id=5, text="hi", reply_markup=too_long_data)

    await bot.send_message(chat_id=5, text="x" * 4096)
    assert len(fake.delivered(5)) == 1


async def test_commands_are_stored_per_scope(fake: FakeBotApi, bot: Bot) -> None:
    commands = [BotCommand("latest", "Latest stories"), BotCommand("follow", "Follow a topic")]

    assert await bot.set_my_commands(commands) is True
    assert await bot.set_my_commands(
        [BotCommand("latest", "Latest")], scope=BotCommandScopeAllGroupChats()
    )

    assert fake.commands == [
        {"command": "latest", "description": "Latest stories"},
        {"command": "follow", "description": "Follow a topic"},
    ]
    assert fake.calls_to("setMyCommands")[0].params["commands"] == fake.commands
    assert fake.calls_to("setMyCommands")[1].params["scope"] == {"type": "all_group_chats"}
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Latest", "Capitals are refused")])


async def test_methods_the_bot_does_not_use_are_not_found(fake: FakeBotApi, bot: Bot) -> None:
    # Telegram answers 404 for an unknown method (PTB raises InvalidToken for it); a method the
    # bot starts to use is added to the fake with its checks instead of being answered blindly.
    with pytest.raises(InvalidToken, match=r"^Not Found$"):
        await bot.send_chat_action(chat_id=5, action="typing")

    failed = fake.calls[-1]
    assert (failed.method, failed.error_code, failed.params) == (
        "sendChatAction",
        404,
        {"chat_id": 5, "action": "typing"},
    )


async def test_chats_and_their_members_are_answered_like_telegram(
    fake: FakeBotApi, bot: Bot
) -> None:
    fake.add_channel(-1_001_234_567_890, username="worldwire", title="World Wire")
    fake.inject_message(-100500, "hi", chat_type="supergroup", user_id=7)
    fake.set_chat_member(-1_001_234_567_890, 7, "creator")
    fake.set_chat_member(-1_001_234_567_890, bot.id, "administrator", can_post_messages=True)

    channel = await bot.get_chat("@WorldWire")
    assert (channel.id, channel.type, channel.title) == (
        -1_001_234_567_890,
        "channel",
        "World Wire",
    )
    assert (await bot.get_chat_member(-100500, 7)).status == ChatMemberStatus.MEMBER
    assert (await bot.get_chat_member(channel.id, 7)).status == ChatMemberStatus.OWNER
    me = await bot.get_chat_member(channel.id, bot.id)
    assert isinstance(me, ChatMemberAdministrator) and me.can_post_messages
    assert (await bot.get_chat_member(-100500, bot.id)).status == ChatMemberStatus.LEFT

    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.get_chat("@nosuchchannel")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.get_chat_member(-100999, 7)
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(-100500, 424242)
    assert fake.chat_member_calls(-100500, 424242) == 1


async def test_anonymous_admins_and_channel_posts_come_as_from_telegram(
    fake: FakeBotApi, bot: Bot
) -> None:
    fake.add_channel(-1_001_234_567_890, username="worldwire")
    fake.inject_message(-100500, "/pause", chat_type="supergroup", anonymous_admin=True)
    fake.inject_channel_post(-1_001_234_567_890, "/subscribe ukraine")

    group, channel = await bot.get_updates()
    assert group.message is not None and group.message.sender_chat is not None
    assert group.message.sender_chat.id == -100500
    assert group.effective_user is not None and group.effective_user.username == "GroupAnonymousBot"
    post = channel.channel_post
    assert post is not None and post.from_user is None and post.text == "/subscribe ukraine"
    assert post.sender_chat is not None and post.sender_chat.id == -1_001_234_567_890
    assert post.entities[0].type == MessageEntity.BOT_COMMAND


async def test_wrong_token_is_unauthorized(fake: FakeBotApi) -> None:
    # Bot.initialize() calls getMe and rewords the InvalidToken raised for the 401.
    with pytest.raises(InvalidToken, match="was rejected by the server"):
        async with Bot("999:WRONG-TOKEN", base_url=fake.base_url):
            pass
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{fake.base_url}999:WRONG-TOKEN/getMe")

    assert answer.status_code == 401
    assert answer.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert fake.calls == []


async def test_method_names_are_case_insensitive(fake: FakeBotApi) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{fake.base_url}{fake.token}/GETME")
        raw = await client.post(
            f"{fake.base_url}{fake.token}/sendmessage", data={"chat_id": "3", "text": "form"}
        )

    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "result": fake.bot_user}
    assert raw.json()["result"]["text"] == "form"
    assert [call.method for call in fake.calls] == ["getMe", "sendMessage"]
    assert fake.texts(3) == ["form"]


# ---------------------------------------------------------------------------- updates


async def test_get_updates_delivers_an_injected_command(fake: FakeBotApi, bot: Bot) -> None:
    update_id = fake.inject_message(7, "/latest tech")

    updates = await bot.get_updates()

    assert [update.update_id for update in updates] == [update_id]
    message = updates[0].message
    assert message is not None
    assert message.text == "/latest tech"
    assert message.chat.id == 7 and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.id == 7
    assert message.from_user.username == "alice"
    assert message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 7),)
    assert message.parse_entities([MessageEntity.BOT_COMMAND]) == {message.entities[0]: "/latest"}


async def test_group_messages_and_callback_queries(fake: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(chat_id=-100500, text="pick one")
    fake.inject_message(-100500, "/latest@newsbot_test_bot", chat_type="supergroup", user_id=9)
    fake.inject_callback_query(-100500, sent.message_id, "pick:2", user_id=9)

    group_update, query_update = await bot.get_updates()

    message = group_update.message
    assert message is not None and message.chat.type == "supergroup"
    assert message.chat.title == "Test Group"
    assert message.from_user is not None and message.from_user.id == 9
    assert message.entities[0].length == len("/latest@newsbot_test_bot")
    query = query_update.callback_query
    assert query is not None
    assert query.data == "pick:2" and query.from_user.id == 9
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.message.chat.id == -100500
    assert await query.answer("done") is True


async def test_offset_confirms_updates(fake: FakeBotApi, bot: Bot) -> None:
    first = fake.inject_message(7, "one")
    second = fake.inject_message(7, "two")

    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert await bot.get_updates(offset=second + 1) == ()
    assert await bot.get_updates() == (), "the offset confirmed both"
    third = fake.inject_message(7, "three")
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == [third]


async def test_long_poll_returns_as_soon_as_an_update_arrives(fake: FakeBotApi, bot: Bot) -> None:
    mark = fake.mark()
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call(is_method("getUpdates"), after=mark)  # the poll is waiting

    update_id = fake.inject_message(7, "breaking news")
    updates = await asyncio.wait_for(poll, timeout=5)

    assert [u.update_id for u in updates] == [update_id]
    assert loop.time() - started < 5
    assert fake.calls_to("getUpdates")[-1].params["timeout"] == 30


async def test_long_poll_with_zero_timeout_answers_at_once(bot: Bot) -> None:
    assert await asyncio.wait_for(bot.get_updates(timeout=0), timeout=5) == ()


async def test_a_second_poll_terminates_the_first(fake: FakeBotApi, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call(is_method("getUpdates"))

    # A second bot instance (one Bot keeps a single connection for getUpdates).
    async with Bot(fake.token, base_url=fake.base_url) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_allowed_updates_filters_and_is_remembered(fake: FakeBotApi, bot: Bot) -> None:
    fake.inject_callback_query(7, 1, "tap")
    message_id = fake.inject_message(7, "hello")

    only_messages = await bot.get_updates(allowed_updates=["message"])
    assert [u.update_id for u in only_messages] == [message_id]
    assert [u.update_id for u in await bot.get_updates()] == [message_id]  # still filtered
    assert len(await bot.get_updates(allowed_updates=[])) == 2  # back to the default


# ---------------------------------------------------------------------------- failures


async def test_fail_with_retry_after(
    fake: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, PTB 22's RetryAfter.__init__ itself emits a PTBDeprecationWarning,
    # which filterwarnings=error turns into the exception raised instead of RetryAfter.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_with_retry_after("sendMessage", 3)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(chat_id=5, text="first")
    await bot.send_message(chat_id=5, text="second")

    assert caught.value.retry_after == timedelta(seconds=3)
    calls = fake.calls_to("sendMessage", include_failed=True)
    assert [(c.failed, c.error_code) for c in calls] == [(True, 429), (False, None)]
    assert calls[0].description == "Too Many Requests: retry after 3"
    assert fake.texts(5) == ["second"]


async def test_fail_next_per_chat_and_times(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next(
        "sendMessage",
        error_code=403,
        description="Forbidden: bot was blocked by the user",
        chat_id=6,
        times=2,
    )

    await bot.send_message(chat_id=5, text="not affected")
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(chat_id=6, text="blocked")
    await bot.send_message(chat_id=6, text="unblocked")

    assert fake.texts() == ["not affected", "unblocked"]


async def test_block_chat(fake: FakeBotApi, bot: Bot) -> None:
    fake.inject_message(-77, "hi", chat_type="group")
    fake.block_chat(8)
    fake.block_chat(-77)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(chat_id=8, text="x")
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(chat_id=-77, text="x")
    fake.unblock_chat(8)
    await bot.send_message(chat_id=8, text="x")


async def test_wait_for_call_times_out_with_a_useful_message(fake: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(chat_id=5, text="hello")

    with pytest.raises(AssertionError, match=r"getMe, sendMessage\(chat_id=5, text='hello'\)"):
        await fake.wait_for_message(6, timeout=0.05)
    with pytest.raises(AssertionError, match=r"recorded: \(none\)"):
        await fake.wait_for_call(is_method("sendMessage"), after=fake.mark(), timeout=0.05)


async def test_edits(fake: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
    sent = await bot.send_message(chat_id=5, text="v1", reply_markup=keyboard)

    edited = await bot.edit_message_text("<i>v2</i>", 5, sent.message_id, parse_mode="HTML")
    assert not isinstance(edited, bool)
    assert edited.text == "v2" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("<i>v2</i>", 5, sent.message_id, parse_mode="HTML")
    stored = fake.get_message(5, sent.message_id)
    assert stored is not None and stored["text"] == "v2"


async def test_wait_for_call_sees_a_long_poll_answer_after_it_was_recorded(
    fake: FakeBotApi, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call(is_method("getUpdates"))  # recorded, result still None

    def answered(call: RecordedCall) -> bool:
        return call.method == "getUpdates" and bool(call.result)

    waiter = asyncio.create_task(fake.wait_for_call(answered))
    await asyncio.sleep(0)  # the waiter has looked at the waiting poll once
    update_id = fake.inject_message(7, "late")

    found = await asyncio.wait_for(waiter, timeout=5)
    assert found.result[0]["update_id"] == update_id
    assert [u.update_id for u in await poll] == [update_id]


# ---------------------------------------------------------------------------- flood limits


class Ticker:
    """A monotonic clock for the fake that the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
async def timed_fake(ticker: Ticker) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(clock=ticker) as api:
        yield api


@pytest.fixture
async def timed_bot(timed_fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(timed_fake.token, base_url=timed_fake.base_url) as real_bot:
        yield real_bot


async def refused(send: Awaitable[object]) -> timedelta:
    """The `retry_after` of the RetryAfter a send raises."""
    with pytest.raises(RetryAfter) as caught:
        await send
    retry_after = caught.value.retry_after
    assert isinstance(retry_after, timedelta)
    return retry_after


async def test_one_message_per_second_to_a_private_chat(
    timed_fake: FakeBotApi, timed_bot: Bot, ticker: Ticker
) -> None:
    fake, bot = timed_fake, timed_bot
    fake.enforce_limits()

    await bot.send_message(chat_id=5, text="one")
    assert await refused(bot.send_message(chat_id=5, text="two")) == timedelta(seconds=1)
    assert await refused(bot.send_message(chat_id=5, text="three")) == timedelta(seconds=1)
    await bot.send_message(chat_id=6, text="another chat has its own window")
    ticker.advance(0.5)
    assert await refused(bot.send_message(chat_id=5, text="four")) == timedelta(seconds=1)
    ticker.advance(0.5)  # exactly 1.0 s after "one": it has left the window
    await bot.send_message(chat_id=5, text="five")

    assert fake.texts(5) == ["one", "five"]
    assert fake.too_many_requests == 3
    refusals = [c for c in fake.calls_to("sendMessage", include_failed=True) if c.failed]
    assert [(c.error_code, c.description) for c in refusals] == [
        (429, "Too Many Requests: retry after 1")
    ] * 3
    assert fake.send_rate_timeline(5) == [1000.0, 1001.0]


async def test_429_body_is_telegrams(timed_fake: FakeBotApi) -> None:
    timed_fake.enforce_limits()
    url = f"{timed_fake.base_url}{timed_fake.token}/sendMessage"
    async with httpx.AsyncClient() as client:
        first = await client.post(url, data={"chat_id": "5", "text": "a"})
        second = await client.post(url, data={"chat_id": "5", "text": "b"})

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


async def test_twenty_messages_per_minute_to_a_group(
    timed_fake: FakeBotApi, timed_bot: Bot, ticker: Ticker
) -> None:
    fake, bot = timed_fake, timed_bot
    fake.enforce_limits()
    for number in range(20):  # one every 1.5 s: within the per-chat limit of a private chat
        await bot.send_message(chat_id=-100, text=f"story {number}")
        ticker.advance(1.5)

    # t = +30 s: the first of the 20 leaves the 60 s window at +60 s.
    assert await refused(bot.send_message(chat_id=-100, text="21st")) == timedelta(seconds=30)
    await bot.send_message(chat_id=-1001234567890, text="another group has its own window")
    ticker.now = 1059.5
    assert await refused(bot.send_message(chat_id=-100, text="21st")) == timedelta(seconds=1)
    ticker.now = 1060.0
    await bot.send_message(chat_id=-100, text="21st")

    assert len(fake.delivered(-100)) == 21
    assert fake.too_many_requests == 2
    assert fake.peak_sends(60.0, chat_id=-100) == 20


async def test_thirty_messages_per_second_overall(
    timed_fake: FakeBotApi, timed_bot: Bot, ticker: Ticker
) -> None:
    fake, bot = timed_fake, timed_bot
    fake.enforce_limits()
    for chat_id in range(1, 31):  # 30 chats, one message each, all at the same instant
        await bot.send_message(chat_id=chat_id, text="news")

    assert await refused(bot.send_message(chat_id=31, text="news")) == timedelta(seconds=1)
    assert await refused(bot.send_message(chat_id=-31, text="news")) == timedelta(seconds=1)
    ticker.advance(0.5)
    assert await refused(bot.send_message(chat_id=31, text="news")) == timedelta(seconds=1)
    ticker.advance(0.5)
    await bot.send_message(chat_id=31, text="news")

    assert len(fake.delivered()) == 31
    assert fake.too_many_requests == 3
    assert fake.peak_sends(1.0) == 30
    assert fake.send_rate_timeline() == [1000.0] * 30 + [1001.0]


async def test_limits_count_edits_and_uploads_and_can_be_tuned(
    timed_fake: FakeBotApi, timed_bot: Bot, ticker: Ticker
) -> None:
    fake, bot = timed_fake, timed_bot
    sent = await bot.send_message(chat_id=5, text="v1")  # before the limits: not counted
    fake.enforce_limits(global_per_second=2, private_per_second=0.5)

    await bot.edit_message_text("v2", chat_id=5, message_id=sent.message_id)
    # 0.5 per second: one send in any 2 s.
    assert await refused(bot.edit_message_reply_markup(5, sent.message_id)) == (
        timedelta(seconds=2)
    )
    await bot.send_document(chat_id=-7, document=b"x", filename="x.txt")
    # Two sends in the last second overall: even a fresh chat waits.
    assert await refused(bot.send_message(8, "fresh")) == timedelta(seconds=1)
    await bot.get_me()  # not a send: never limited

    assert fake.too_many_requests == 2
    assert fake.send_rate_timeline() == [1000.0, 1000.0, 1000.0]
    with pytest.raises(ValueError, match="positive"):
        fake.enforce_limits(private_per_second=0)


def test_rates_become_strict_sliding_windows() -> None:
    assert Window.for_rate(30, 1.0) == Window(30, 1.0)
    assert Window.for_rate(20, 60.0) == Window(20, 60.0)
    assert Window.for_rate(0.5, 1.0) == Window(1, 2.0)
    assert Window.for_rate(2.5, 1.0) == Window(2, 0.8)

    limiter = RateLimiter(RateLimits(global_per_second=3))
    assert limiter.admit(1, 10.0) == 0.0
    assert limiter.admit(1, 10.25) == pytest.approx(0.75)  # private: 1 per second
    assert limiter.admit(2, 10.25) == 0.0
    assert limiter.admit(None, 10.5) == 0.0  # e.g. an inline edit: the global window only
    assert limiter.admit(3, 10.75) == pytest.approx(0.25)  # 3 in the last second overall
    assert limiter.admit(3, 11.0) == 0.0  # the send at 10.0 has left the window
    assert limiter.admit(-4, 11.0) == pytest.approx(0.25)


# ---------------------------------------------------------------------------- errors on demand


async def test_migrate_chat(fake: FakeBotApi, bot: Bot) -> None:
    fake.inject_message(-5, "hi", chat_type="group")
    fake.migrate_chat(-5, -1001234567890)

    for _ in range(2):  # every send, not just the next one
        with pytest.raises(ChatMigrated) as caught:
            await bot.send_message(chat_id=-5, text="news")
        assert caught.value.new_chat_id == -1001234567890
    sent = await bot.send_message(chat_id=-1001234567890, text="news")

    assert sent.chat.type == "supergroup" and sent.chat.title == "Test Group"
    failed = fake.calls_to("sendMessage", include_failed=True)[0]
    assert (failed.error_code, failed.description) == (
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
    )
    assert fake.texts() == ["news"]
    with pytest.raises(ValueError, match="negative"):
        fake.migrate_chat(5, -100)


async def test_drop_connections(fake: FakeBotApi, bot: Bot) -> None:
    fake.drop_connections("sendMessage", times=2, chat_id=5)

    await bot.send_message(chat_id=6, text="other chat")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Server disconnected without sending a response"):
            await bot.send_message(chat_id=5, text="lost")
    await bot.send_message(chat_id=5, text="through")

    calls = fake.calls_to("sendMessage", include_failed=True)
    assert [(c.failed, c.dropped, c.error_code) for c in calls] == [
        (False, False, None),
        (True, True, None),
        (True, True, None),
        (False, False, None),
    ]
    assert fake.texts() == ["other chat", "through"]
    assert "sendMessage [dropped](chat_id=5, text='lost') ×2" in fake.describe_calls()


async def test_outage_after_some_sends_until_released(fake: FakeBotApi, bot: Bot) -> None:
    fake.start_outage(status=502, after_sends=2)
    await bot.send_message(chat_id=5, text="one")
    await bot.get_me()  # not a send: the outage waits for the second send
    await bot.send_message(chat_id=6, text="two")
    with pytest.raises(NetworkError, match=r"^Bad Gateway$"):
        await bot.send_message(chat_id=7, text="three")
    with pytest.raises(NetworkError):
        await bot.get_me()  # everything fails, not only sends
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{fake.base_url}{fake.token}/getMe")
    assert answer.status_code == 502
    assert answer.json() == {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    fake.end_outage()
    await bot.send_message(chat_id=7, text="three")

    fake.start_outage(drop=True)
    with pytest.raises(NetworkError):
        await bot.get_me()
    assert fake.calls[-1].dropped
    fake.end_outage()
    assert [p["text"] for p in fake.delivered()] == ["one", "two", "three"]
    with pytest.raises(ValueError, match="5xx"):
        fake.start_outage(status=404)


async def test_redirect_to_and_on_delivered(fake: FakeBotApi, bot: Bot) -> None:
    seen: list[object] = []
    fake.on_delivered = lambda params: seen.append(params["text"])
    await bot.send_message(chat_id=5, text="hello")
    assert seen == ["hello"]

    fake.redirect_to("http://127.0.0.1:9/elsewhere")
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{fake.base_url}{fake.token}/getMe")
    assert answer.status_code == 307 and answer.headers["Location"].endswith("/elsewhere")
    fake.redirect_to(None)
    await bot.get_me()


# ---------------------------------------------------------------------------- delivery accounting


async def test_delivered_duplicates_and_timeline(
    timed_fake: FakeBotApi, timed_bot: Bot, ticker: Ticker
) -> None:
    fake, bot = timed_fake, timed_bot
    for chat_id, text in [(5, "a"), (5, "a"), (5, "b"), (-7, "a"), (5, "a")]:
        await bot.send_message(chat_id=chat_id, text=text)
        ticker.advance(0.25)
    with pytest.raises(BadRequest):
        await bot.send_message(chat_id=5, text="<b>a", parse_mode=ParseMode.HTML)
    await bot.edit_message_text("edited", chat_id=5, message_id=1)

    assert [p["text"] for p in fake.delivered(5)] == ["a", "a", "b", "a"]
    assert fake.delivered("5") == fake.delivered(5)
    assert [p["chat_id"] for p in fake.delivered()] == [5, 5, 5, -7, 5]
    assert fake.delivered(99) == []
    assert fake.duplicates(lambda p: (p["chat_id"], p["text"])) == 2
    assert fake.duplicates(lambda p: p["text"]) == 3
    # Sends of every kind that succeeded, edits included; not the 400.
    assert fake.send_rate_timeline() == [1000.0, 1000.25, 1000.5, 1000.75, 1001.0, 1001.25]
    assert fake.send_rate_timeline(-7) == [1000.75]
    assert fake.peak_sends(1.0) == 4
    assert fake.peak_sends(1.0, chat_id=5) == 3  # 1000.25, 1000.5, 1001.0
    assert fake.peak_sends(0.25) == 1


async def test_html_validation_can_be_skipped() -> None:
    async with (
        FakeBotApi(validate_html=False) as fake,
        Bot(fake.token, base_url=fake.base_url) as bot,
    ):
        message = await bot.send_message(chat_id=5, text="Cats < Dogs", parse_mode="HTML")

    assert message.text == "Cats < Dogs" and message.entities == ()
    assert fake.texts(5) == ["Cats < Dogs"]


# ---------------------------------------------------------------------------- a real Application


async def test_application_polls_handles_commands_and_buttons(fake: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Tech", callback_data="topic:tech")]])

    async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            f"<b>Latest</b> for {' '.join(context.args or [])}",
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Following")
        await query.edit_message_text(f"Now following {query.data}")

    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("latest", latest))
    app.add_handler(CallbackQueryHandler(button))

    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=10)
        try:
            fake.inject_message(7, "/latest world")
            reply = await fake.wait_for_message(7, contains="Latest")
            assert reply["text"] == "<b>Latest</b> for world"

            sent = fake.calls_to("sendMessage")[-1].result
            fake.inject_callback_query(7, sent["message_id"], "topic:tech")
            edit = await fake.wait_for_call(is_method("editMessageText"))
            assert edit.params["text"] == "Now following topic:tech"
            assert fake.calls_to("answerCallbackQuery")[0].params["text"] == "Following"
        finally:
            await app.updater.stop()
            await app.stop()

    assert await bot.get_updates() == (), "the application's last getUpdates confirmed all"


# ---------------------------------------------------------------------------- Telegram HTML


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba>", 'Expected equal sign in declaration of an attribute of the tag "i"'),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found'),
        ("<b>open", "Can't find end tag corresponding to start tag b"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
    ],
)
def test_parse_html_errors_match_tdlib(text: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(text)
    assert str(caught.value).startswith(error)


def test_parse_html_entities_match_tdlib() -> None:
    assert parse_html("&lt;&gt;&amp;&quot;&laquo;&#12345678;") == ('<>&"&laquo;&#12345678;', [])
    assert parse_html("🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>") == (
        "🏟 🏟🏟 ><🏟",
        [
            {"type": "italic", "offset": 5, "length": 7},
            {"type": "bold", "offset": 9, "length": 3},
        ],
    )
    assert parse_html('<pre><code class="language-python">x = 1</code></pre>') == (
        "x = 1",
        [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
    )
    assert parse_html('<a href="news.example.org">site</a>')[1] == [
        {"type": "text_link", "offset": 0, "length": 4, "url": "http://news.example.org/"}
    ]


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_escaped_text_round_trips_through_telegram_html(text: str) -> None:
    plain, entities = parse_html(f"<b>{html.escape(text, quote=False)}</b>")

    assert plain == text
    expected = [{"type": "bold", "offset": 0, "length": utf16_len(text)}] if text else []
    assert entities == expected


# ---------------------------------------------------------------------------- feed server


async def test_conditional_get_with_etag(feeds: FeedServer) -> None:
    body = rss_feed([FeedItem("One", "https://news.example.org/1")])
    etag = feeds.set_feed("/feeds/a.xml", body)
    url = feeds.url("/feeds/a.xml")
    assert url == f"http://127.0.0.1:{feeds.port}/feeds/a.xml"

    async with httpx.AsyncClient() as client:
        first = await client.get(url)
        assert first.status_code == 200
        assert first.text == body
        assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
        assert first.headers["etag"] == etag and etag is not None and etag.startswith('"')

        cached = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag

        new_etag = feeds.set_feed("/feeds/a.xml", body.replace("One", "Two"))
        changed = await client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] == new_etag != etag
        assert "Two" in changed.text

    statuses = [request.status for request in feeds.requests_for("feeds/a.xml")]
    assert statuses == [200, 304, 200]
    assert feeds.requests[1].headers["if-none-match"] == etag
    assert feeds.requests[0].method == "GET"


async def test_conditional_get_with_last_modified(feeds: FeedServer) -> None:
    stamp = "Tue, 02 Jan 2024 03:04:05 GMT"
    feeds.set_feed("/lm.xml", "<rss/>", etag=False, last_modified=stamp)

    async with httpx.AsyncClient() as client:
        first = await client.get(feeds.url("/lm.xml"))
        same = await client.get(feeds.url("/lm.xml"), headers={"If-Modified-Since": stamp})
        older = await client.get(
            feeds.url("/lm.xml"), headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}
        )

    assert first.status_code == 200 and first.headers["last-modified"] == stamp
    assert "etag" not in first.headers
    assert same.status_code == 304
    assert older.status_code == 200


async def test_set_response_errors_redirects_and_unknown_paths(feeds: FeedServer) -> None:
    feeds.set_response("/broken.xml", status=500, body="boom")
    feeds.set_response("/old.xml", status=301, headers={"Location": feeds.url("/new.xml")})
    feeds.set_feed("/new.xml", "<rss/>")

    async with httpx.AsyncClient() as client:
        broken = await client.get(feeds.url("/broken.xml"))
        moved = await client.get(feeds.url("/old.xml"))
        followed = await client.get(feeds.url("/old.xml"), follow_redirects=True)
        missing = await client.get(feeds.url("/nope.xml"))

    assert (broken.status_code, broken.text) == (500, "boom")
    assert moved.status_code == 301
    assert moved.headers["location"] == feeds.url("/new.xml")
    assert followed.status_code == 200 and followed.text == "<rss/>"
    assert missing.status_code == 404
    assert [(r.path, r.status) for r in feeds.requests] == [
        ("/broken.xml", 500),
        ("/old.xml", 301),
        ("/old.xml", 301),
        ("/new.xml", 200),
        ("/nope.xml", 404),
    ]


async def test_stalled_path_lets_the_client_time_out(feeds: FeedServer) -> None:
    feeds.set_feed("/slow.xml", "<rss/>")
    feeds.stall("/slow.xml")

    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.2)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(feeds.url("/slow.xml"))
        [gave_up] = await feeds.wait_for_requests("/slow.xml")
        assert gave_up.status == 499

        feeds.release("/slow.xml")
        answer = await client.get(feeds.url("/slow.xml"))
        assert answer.status_code == 200


# ---------------------------------------------------------------------------- feed builders


def test_rss_feed_parses_with_feedparser() -> None:
    published = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    items = [
        FeedItem(
            "Cats & Dogs <3",
            "https://news.example.org/a?x=1&y=2",
            guid="a-1",
            summary="<p>Big &amp; small</p>",
            published=published,
        ),
        FeedItem("Second", "https://news.example.org/b"),
    ]

    parsed = feedparser.parse(rss_feed(items, title="Pets & Co"))

    assert not parsed.bozo
    assert parsed.feed.title == "Pets & Co"
    assert parsed.feed.language == "en"
    first, second = parsed.entries
    assert first.title == "Cats & Dogs <3"
    assert first.link == "https://news.example.org/a?x=1&y=2"
    assert first.id == "a-1"
    assert first.published == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert tuple(first.published_parsed)[:6] == (2024, 1, 2, 3, 4, 5)
    assert "Big &amp; small" in first.summary
    assert second.title == "Second" and "published_parsed" not in second


def test_atom_feed_parses_with_feedparser() -> None:
    published = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    items = [
        FeedItem("Atoms & Bits", "https://news.example.org/x", summary="s", published=published),
        FeedItem("Undated", "https://news.example.org/y", guid="urn:y"),
    ]

    parsed = feedparser.parse(atom_feed(items))

    assert not parsed.bozo
    assert parsed.version == "atom10"
    first, second = parsed.entries
    assert first.title == "Atoms & Bits"
    assert first.link == "https://news.example.org/x"
    assert first.id == "https://news.example.org/x"
    assert tuple(first.published_parsed)[:6] == (2024, 1, 2, 3, 4, 5)
    assert second.id == "urn:y"
    assert tuple(second.updated_parsed)[:6] == (2024, 1, 2, 3, 4, 5)  # the feed's newest date


def _article(result_id: str, text: str = "<b>Headline</b>") -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=result_id,
        title="Headline",
        input_message_content=InputTextMessageContent(text, parse_mode=ParseMode.HTML),
    )


async def test_inline_queries_are_delivered_and_answered_like_telegram(
    fake: FakeBotApi, bot: Bot
) -> None:
    query_id = fake.inject_inline_query(7, "ukraine", language_code="uk")
    [update] = await bot.get_updates()
    query = update.inline_query
    assert query is not None and query.id == query_id and query.query == "ukraine"
    assert query.from_user.id == 7 and query.from_user.language_code == "uk"

    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_inline_query("12345", [_article("a")])
    with pytest.raises(BadRequest, match=r"(?i)results_too_much"):
        await query.answer([_article(str(n)) for n in range(51)])
    with pytest.raises(BadRequest, match=r"(?i)result_id_duplicate"):
        await query.answer([_article("same"), _article("same")])
    with pytest.raises(BadRequest, match=r"(?i)result_id_invalid"):
        await query.answer([_article("x" * 65)])
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await query.answer([_article("a", "<b>unclosed")])

    assert await query.answer([_article(str(n)) for n in range(50)], next_offset="10") is True
    assert fake.inline_answers[query_id]["next_offset"] == "10"
    assert len(fake.inline_answers[query_id]["results"]) == 50
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer([_article("again")])
