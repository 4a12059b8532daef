"""/settings: previews, silent pushes, quiet hours and language, per chat and per channel.

Through the real PTB client and the fake Bot API: buttons are pressed as Telegram delivers the
taps, and the bot must edit its settings message in place. The quiet-hours test moves an
injected clock across the hours' end; nothing sleeps on the wall clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handlers.i18n import texts_in
from handlers.sender import Sender
from news.delivery import parse_quiet_hours, quiet_until
from news.model import ChatSettings
from storage import SqlStorage, open_storage
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, seeded_bot
from tests.test_delivery import VirtualTime, gateway_bot, publish

ALICE = 1001
BOB = 2002
GROUP = -100700
CHANNEL = -1_001_234_567_890
BOT_ID = 123456
ONLY_ADMINS = "Only this group's admins can change this."


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with seeded_bot(telegram, feeds, tmp_path) as running:
        yield running


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """The keyboard of a message: each button's text by its callback data."""
    rows = message["reply_markup"]["inline_keyboard"]
    return {button["callback_data"]: button["text"] for row in rows for button in row}


async def wait_sent(telegram: FakeBotApi, chat_id: int, contains: str, after: int) -> Any:
    """The message the bot sent to the chat with `contains` in it, as Telegram returned it."""
    call = await telegram.wait_for_call(
        lambda call: (
            call.method == "sendMessage"
            and not call.failed
            and call.params.get("chat_id") == chat_id
            and contains in str(call.params.get("text"))
        ),
        after=after,
    )
    return call.result


async def open_settings(telegram: FakeBotApi, chat_id: int, text: str = "/settings") -> Any:
    mark = telegram.mark()
    telegram.inject_message(chat_id, text)
    return await wait_sent(telegram, chat_id, "Settings", mark)


async def worldwire_run_by(telegram: FakeBotApi, admin: int, **rights: bool) -> None:
    """@worldwire, a channel the bot may post in, with `admin` (who has started the bot) an
    administrator of it with `rights`."""
    await ask(telegram, admin, "/start")
    telegram.add_channel(CHANNEL, username="worldwire", title="World Wire")
    telegram.set_chat_member(CHANNEL, admin, "administrator", **rights)
    telegram.set_chat_member(CHANNEL, BOT_ID, "administrator", can_post_messages=True)


async def press(
    telegram: FakeBotApi, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
) -> tuple[str, dict[str, Any] | None]:
    """Tap a button; what the callback was answered, and the message after any edit."""
    mark = telegram.mark()
    telegram.inject_callback_query(chat_id, message_id, data, user_id=user_id)
    answer = await telegram.wait_for_call(
        lambda call: call.method == "answerCallbackQuery", after=mark
    )
    said = str(answer.params.get("text", ""))
    if said in ("Saved.", "Gespeichert.", "Збережено."):  # then the edit shows the change
        await telegram.wait_for_call(lambda call: call.method == "editMessageText", after=mark)
    return said, telegram.get_message(chat_id, message_id)


async def test_buttons_change_a_setting_and_edit_the_message_in_place(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    shown = await open_settings(telegram, ALICE)
    assert "Link previews: small" in shown["text"]
    assert "Quiet hours: off" in shown["text"]
    keys = buttons(shown)
    assert keys[f"set:{ALICE}:p:small"] == "✓ Small preview"
    message_id = shown["message_id"]
    sent_before = len(telegram.calls_to("sendMessage"))

    answer, edited = await press(telegram, ALICE, message_id, f"set:{ALICE}:p:large")
    assert answer == "Saved."
    assert edited is not None and "Link previews: large image above the text" in edited["text"]
    assert buttons(edited)[f"set:{ALICE}:p:large"] == "✓ Large image"

    answer, edited = await press(telegram, ALICE, message_id, f"set:{ALICE}:s:1")
    assert edited is not None and "Silent pushes: on" in edited["text"]
    answer, edited = await press(telegram, ALICE, message_id, f"set:{ALICE}:q:1380-420")
    assert edited is not None and "Quiet hours: 23:00–07:00 (UTC)" in edited["text"]
    assert len(telegram.calls_to("sendMessage")) == sent_before, "edited, never sent again"

    stored = await bot.work.storage.chat_settings(ALICE)
    assert stored is not None
    assert (stored.preview, stored.silent, stored.quiet_start, stored.quiet_end) == (
        "large",
        True,
        23 * 60,
        7 * 60,
    )
    again = await open_settings(telegram, ALICE)
    assert "Link previews: large image above the text" in again["text"]


async def test_quiet_hours_typed_and_their_mistakes_explained(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    said = await ask(telegram, ALICE, "/settings quiet 25:00-07:00")
    assert said.startswith("“25:00-07:00” is not a span of quiet hours.")
    assert "/settings quiet 23:00-07:00" in said
    assert "is not a span" in await ask(telegram, ALICE, "/settings quiet 07:00-07:00")
    assert "is not a span" in await ask(telegram, ALICE, "/settings quiet soon")
    assert "/settings quiet" in await ask(telegram, ALICE, "/settings loud")
    said = await ask(telegram, ALICE, "/settings quiet 22:30-06:15", contains="Settings")
    assert "Quiet hours: 22:30–06:15 (UTC)" in said
    said = await ask(telegram, ALICE, "/settings quiet off", contains="Settings")
    assert "Quiet hours: off" in said


async def test_in_a_group_anyone_looks_and_only_admins_change(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    mark = telegram.mark()
    telegram.inject_message(GROUP, "/settings", chat_type="supergroup")
    shown = await wait_sent(telegram, GROUP, "Settings", mark)
    answer, edited = await press(telegram, GROUP, shown["message_id"], f"set:{GROUP}:s:1")
    assert answer == ONLY_ADMINS
    assert edited is not None and edited["text"] == shown["text"]
    stored = await bot.work.storage.chat_settings(GROUP)
    assert stored is not None and not stored.silent

    mark = telegram.mark()
    telegram.inject_message(GROUP, "/settings quiet 23:00-07:00", chat_type="supergroup")
    said = await telegram.wait_for_message(GROUP, after=mark)
    assert said["text"] == ONLY_ADMINS

    telegram.inject_message(GROUP, "hello", user_id=BOB, chat_type="supergroup")
    telegram.set_chat_member(GROUP, BOB, "administrator")
    answer, edited = await press(
        telegram, GROUP, shown["message_id"], f"set:{GROUP}:s:1", user_id=BOB
    )
    assert answer == "Saved." and edited is not None and "Silent pushes: on" in edited["text"]


async def test_a_forged_button_for_another_chat_changes_nothing(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    shown = await open_settings(telegram, ALICE)
    await ask(telegram, BOB, "/start")
    answer, _ = await press(telegram, ALICE, shown["message_id"], f"set:{BOB}:s:1")
    assert answer == ONLY_ADMINS
    stored = await bot.work.storage.chat_settings(BOB)
    assert stored is not None and not stored.silent


async def test_a_channel_admin_sets_the_channels_settings_from_a_private_chat(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    await worldwire_run_by(telegram, ALICE, can_post_messages=True)

    shown = await open_settings(telegram, ALICE, "/settings @worldwire")
    assert "Settings of @worldwire" in shown["text"]
    answer, edited = await press(telegram, ALICE, shown["message_id"], f"set:{CHANNEL}:l:de")
    assert answer == "Saved."
    assert edited is not None and "Settings of @worldwire" in edited["text"]
    channel = await bot.work.storage.chat_settings(CHANNEL)
    assert channel is not None and channel.chosen_language == "de"
    mine = await bot.work.storage.chat_settings(ALICE)
    assert mine is not None and mine.chosen_language is None

    telegram.set_chat_member(CHANNEL, BOB, "member")
    await ask(telegram, BOB, "/start")
    said = await ask(telegram, BOB, "/settings @worldwire")
    assert "You are not an administrator of @worldwire" in said

    # Posted in the channel itself, the buttons are seen by every reader: admins only.
    mark = telegram.mark()
    telegram.inject_channel_post(CHANNEL, "/settings")
    posted = await wait_sent(telegram, CHANNEL, "Einstellungen", mark)  # its language
    answer, _ = await press(
        telegram, CHANNEL, posted["message_id"], f"set:{CHANNEL}:s:1", user_id=BOB
    )
    assert answer == texts_in("de")._(ONLY_ADMINS)
    answer, _ = await press(
        telegram, CHANNEL, posted["message_id"], f"set:{CHANNEL}:s:1", user_id=ALICE
    )
    assert answer == "Gespeichert."


async def test_a_channel_admin_without_the_right_to_post_may_not_press_its_settings(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    await worldwire_run_by(telegram, BOB, can_delete_messages=True)
    mark = telegram.mark()
    telegram.inject_channel_post(CHANNEL, "/settings")
    posted = await wait_sent(telegram, CHANNEL, "Settings", mark)
    no_right = "You need the right to post messages in @worldwire to manage its news."

    # In the channel, where every reader sees the buttons; and the same button's data sent
    # from Bob's private chat (an old settings message, or forged).
    answer, after = await press(
        telegram, CHANNEL, posted["message_id"], f"set:{CHANNEL}:s:1", user_id=BOB
    )
    assert answer == no_right
    assert after is not None and "Silent pushes: off" in after["text"]
    mine = await ask(telegram, BOB, "/settings", contains="Settings")
    assert "Settings of this chat" in mine
    [own] = [
        call.result
        for call in telegram.calls_to("sendMessage")
        if call.params.get("chat_id") == BOB and "Settings" in str(call.params.get("text"))
    ]
    answer, _ = await press(telegram, BOB, own["message_id"], f"set:{CHANNEL}:s:1")
    assert answer == no_right
    stored = await bot.work.storage.chat_settings(CHANNEL)
    assert stored is not None and not stored.silent


def story(title: str, slug: str, published: datetime) -> FeedItem:
    return FeedItem(title=title, link=f"https://news.example.org/world/{slug}", published=published)


async def test_a_silent_chat_gets_pushes_without_sound(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    await ask(telegram, ALICE, "/subscribe ukraine")
    await ask(telegram, BOB, "/subscribe ukraine")
    shown = await open_settings(telegram, ALICE)
    await press(telegram, ALICE, shown["message_id"], f"set:{ALICE}:s:1")
    mark = telegram.mark()
    now = datetime.now(UTC)
    feeds.set_feed(
        "/world.xml",
        rss_feed([story("Ukraine opens a new rail line", "rail", now)], title="World"),
    )
    await telegram.wait_for_message(ALICE, contains="rail line", after=mark)
    await telegram.wait_for_message(BOB, contains="rail line", after=mark)
    pushes = {
        call.params["chat_id"]: call.params.get("disable_notification")
        for call in telegram.calls_to("sendMessage")[0:]
        if "rail line" in str(call.params.get("text"))
    }
    assert pushes[ALICE] in (True, "true")
    assert pushes[BOB] in (None, False, "false")


@pytest.mark.parametrize("ending", ["the hours end", "switched off"])
async def test_quiet_hours_hold_pushes_and_send_one_digest_when_they_end(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, ending: str
) -> None:
    clock = Clock(datetime(2025, 2, 14, 23, 30, tzinfo=UTC))
    async with seeded_bot(telegram, feeds, tmp_path, clock=clock) as bot:
        await ask(telegram, ALICE, "/subscribe ukraine")
        await ask(telegram, ALICE, "/settings quiet 23:00-07:00", contains="Settings")
        mark = telegram.mark()
        headlines = ["Ukraine signs a grain deal", "Kyiv, Ukraine, hosts a summit"]
        items = [
            story(title, f"quiet-{n}", clock.now - timedelta(minutes=n))
            for n, title in enumerate(headlines, 1)
        ]
        feeds.set_feed("/world.xml", rss_feed(items, title="World"))
        for _ in range(3):  # polls are due by the injected clock: each one moves it on
            polls = bot.ticks.polls
            clock.advance(seconds=2)
            await bot.ticks.wait_polls(polls + 1)
        held = [
            call for call in telegram.calls_to("sendMessage")[0:] if "grain" in str(call.params)
        ]
        assert held == [], "nothing is pushed during quiet hours"

        if ending == "the hours end":
            clock.now = datetime(2025, 2, 15, 7, 1, tzinfo=UTC)
        else:  # what they held is not kept to their old end
            await ask(telegram, ALICE, "/settings quiet off", contains="Settings")
            clock.advance(seconds=2)
            mark = telegram.mark()
        digest = await telegram.wait_for_message(ALICE, contains="grain", after=mark)
        assert digest["text"].startswith("<b>2 stories from your quiet hours</b>")
        assert "summit" in digest["text"]
        for _ in range(2):
            polls = bot.ticks.polls
            clock.advance(seconds=2)
            await bot.ticks.wait_polls(polls + 1)
        after = [
            call
            for call in telegram.calls[mark:]
            if call.method == "sendMessage" and call.params.get("chat_id") == ALICE
        ]
        assert len(after) == 1, "one digest, nothing else"


async def test_a_chosen_language_rules_replies_and_pushes(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    await ask(telegram, ALICE, "/subscribe ukraine", language_code="en")
    shown = await open_settings(telegram, ALICE)
    answer, edited = await press(telegram, ALICE, shown["message_id"], f"set:{ALICE}:l:uk")
    assert answer == "Збережено."
    assert edited is not None and "Мова: Українська" in edited["text"]

    said = await ask(telegram, ALICE, "/help", language_code="en")
    assert said.startswith("<b>Що я вмію</b>")
    # /subscribe overwrites the subscriber's language, never the chosen one.
    await ask(telegram, ALICE, "/subscribe ukraine", language_code="de")
    mark = telegram.mark()
    feeds.set_feed(
        "/world.xml",
        rss_feed([story("Ukraine opens a new bridge", "bridge", datetime.now(UTC))], title="W"),
    )
    card = await telegram.wait_for_message(ALICE, contains="bridge", after=mark)
    assert card["reply_markup"]["inline_keyboard"][0][0]["text"] == "Докладніше ▸"

    answer, _ = await press(telegram, ALICE, shown["message_id"], f"set:{ALICE}:l:auto")
    assert answer == "Saved."
    assert (await ask(telegram, ALICE, "/help", language_code="en")).startswith(
        "<b>What I can do</b>"
    )


async def test_settings_are_stored_per_chat(storage: SqlStorage) -> None:
    now = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)
    await storage.upsert_chat(1, kind="private", title=None, now=now)
    await storage.upsert_chat(2, kind="channel", title="Wire", now=now)
    default = await storage.chat_settings(1)
    assert default == ChatSettings(1, "private")
    await storage.set_preview(2, "off")
    await storage.set_silent(2, True)
    await storage.set_quiet_hours(2, 22 * 60, 7 * 60)
    await storage.set_chosen_language(2, "fr")
    await storage.set_language(2, "de")
    found = await storage.chat_push_settings([1, 2, 3])
    assert found.keys() == {1, 2}
    assert found[2] == ChatSettings(
        2,
        "channel",
        language="de",
        preview="off",
        silent=True,
        quiet_start=22 * 60,
        quiet_end=7 * 60,
        chosen_language="fr",
    )
    assert found[2].push_language == "fr"
    pushed = await storage.chat_push_settings([1, 2])
    assert pushed[2].push_language == "fr" and pushed[1].push_language is None
    await storage.set_quiet_hours(2, None, None)
    await storage.set_chosen_language(2, None)
    again = await storage.chat_settings(2)
    assert again is not None and again.quiet_start is None and again.push_language == "de"


def test_quiet_hours_over_midnight_end_the_next_morning_in_the_chats_zone() -> None:
    assert parse_quiet_hours("23:00-07:00") == (23 * 60, 7 * 60)
    assert parse_quiet_hours("0-8") == (0, 8 * 60)
    assert parse_quiet_hours("25:00-07:00") is None
    assert parse_quiet_hours("23:00-23:00") is None
    late = datetime(2025, 2, 14, 22, 30, tzinfo=UTC)  # 00:30 in Kyiv
    assert quiet_until(23 * 60, 7 * 60, "Europe/Kyiv", late) == datetime(
        2025, 2, 15, 5, 0, tzinfo=UTC
    )
    assert quiet_until(23 * 60, 7 * 60, "UTC", late) is None
    assert quiet_until(23 * 60, 7 * 60, "UTC", late + timedelta(hours=1)) == datetime(
        2025, 2, 15, 7, 0, tzinfo=UTC
    )
    assert quiet_until(9 * 60, 17 * 60, None, late) is None


async def test_a_quiet_hours_digest_is_one_message_however_the_claims_are_cut(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    clock = Clock(datetime(2025, 2, 14, 23, 30, tzinfo=UTC))
    vtime = VirtualTime()
    store = await open_storage(f"sqlite:///{tmp_path / 'quiet.db'}")
    try:
        for chat in (ALICE, BOB):
            await store.upsert_chat(chat, kind="private", title=None, now=clock())
            await store.subscribe(chat, "ukraine", now=clock())
            await store.set_quiet_hours(chat, 23 * 60, 7 * 60)
        async with gateway_bot(telegram, vtime=vtime) as bot:
            sender = Sender(
                bot, store, clock, batch=3, monotonic=vtime.monotonic, sleep=vtime.sleep
            )
            await publish(store, clock, [f"Ukraine story {n}" for n in range(5)])
            await sender.send_pending()
            assert telegram.calls_to("sendMessage") == []
            clock.now = datetime(2025, 2, 15, 7, 0, tzinfo=UTC)
            await sender.send_pending()
        for chat in (ALICE, BOB):
            [digest] = telegram.delivered(chat)
            assert str(digest["text"]).startswith("<b>5 stories from your quiet hours</b>")
            assert digest.get("disable_notification") in (None, False)
    finally:
        await store.close()
