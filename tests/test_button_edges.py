"""Buttons pressed twice, pressed late or forged, and forged paging cursors: answered quietly.

Through the real PTB client and the fake Bot API. A double tap is two callback queries for one
message, queued before the bot handles either; a late press is one Telegram answers as it does
when the message is gone or the query too old (`fail_next` with Telegram's own descriptions);
a forged press carries data no button of the bot ever had. None may post "Sorry, something went
wrong" or log a failure: the presser is answered ("Already shown", a line on why the button does
nothing), or the button just stops spinning.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.common import (
    CURSOR_MICROS_MAX,
    STORY_ID_MAX,
    cursor_text,
    parse_card_data,
    parse_cursor,
    parse_more_data,
)
from news.model import Story
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi, RecordedCall
from tests.harness import RunningBot, ask, seeded_bot, sent_to
from tests.test_inline import inline
from tests.test_paging import add_stories

ALICE = 1001
SORRY = "Sorry, something went wrong"
EXPIRED = "This list has expired. Send /latest again for the newest stories."
TWENTY_DIGITS = "9" * 20
# A cursor's time as the bot writes it: 2023-11-14, in microseconds.
SOME_MICROS = 1_700_000_000_000_000


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with seeded_bot(telegram, feeds, tmp_path) as running:
        yield running


@pytest.fixture
def failures(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


async def answers(telegram: FakeBotApi, mark: int, count: int) -> list[RecordedCall]:
    """The first `count` `answerCallbackQuery` calls from `mark` on (failed ones too)."""
    seen: list[RecordedCall] = []

    def counted(call: RecordedCall) -> bool:
        if call.method == "answerCallbackQuery":
            seen.append(call)
        return len(seen) == count

    await telegram.wait_for_call(counted, after=mark)
    return seen


async def nothing_went_wrong(
    telegram: FakeBotApi, failures: pytest.LogCaptureFixture, mark: int
) -> None:
    """No "something went wrong" in Alice's chat since `mark`, and no failure logged.

    Alice's next command is answered after her presses were handled (one chat's updates are
    handled in order), so what they would have posted is posted by then."""
    await ask(telegram, ALICE, "/help")
    said = [
        str(call.params.get("text"))
        for call in telegram.calls[mark:]
        if call.method == "sendMessage" and call.params.get("chat_id") == ALICE
    ]
    assert not [text for text in said if SORRY in text]
    logged = [record for record in failures.records if record.levelno >= logging.ERROR]
    assert not logged, [record.getMessage() for record in logged]
    assert "Traceback" not in failures.text


def said(answer: RecordedCall) -> str:
    return str(answer.params.get("text", ""))


async def first_page(telegram: FakeBotApi) -> RecordedCall:
    """/latest zanzibar 1: a page of one event with a "More" button."""
    mark = telegram.mark()
    telegram.inject_message(ALICE, "/latest zanzibar 1")
    return await telegram.wait_for_call(sent_to(ALICE, "Latest on zanzibar"), after=mark)


@pytest.fixture
async def page(bot: RunningBot, telegram: FakeBotApi, clock: Clock) -> RecordedCall:
    """Three stories on "zanzibar" and the first page of /latest on them, with "More"."""
    await add_stories(bot, 3, clock)
    return await first_page(telegram)


def more_of(page: RecordedCall) -> str:
    return str(page.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"])


async def pressed_late(
    telegram: FakeBotApi,
    failures: pytest.LogCaptureFixture,
    message_id: int,
    data: str,
    *,
    method: str,
    description: str,
    chat_id: int | None = None,
) -> RecordedCall:
    """Alice presses the button with `data` under `message_id` while Telegram answers `method`
    (to `chat_id`, else to any chat) with the 400 `description`: the press's answer, once it is
    clear that nothing went wrong."""
    telegram.fail_next(method, error_code=400, description=description, chat_id=chat_id)
    mark = telegram.mark()
    telegram.inject_callback_query(ALICE, message_id, data)

    [answer] = await answers(telegram, mark, 1)

    await nothing_went_wrong(telegram, failures, mark)
    return answer


async def test_more_pressed_twice_lists_the_next_page_once(
    page: RecordedCall, telegram: FakeBotApi, failures: pytest.LogCaptureFixture
) -> None:
    mark = telegram.mark()
    for _ in range(2):  # a double tap: both presses queued before either is handled
        telegram.inject_callback_query(ALICE, int(page.result["message_id"]), more_of(page))

    first, second = await answers(telegram, mark, 2)

    assert said(first) == ""
    assert said(second) == "Already shown: the older stories are just below."
    assert not second.params.get("show_alert")
    await nothing_went_wrong(telegram, failures, mark)
    older = [call for call in telegram.calls[mark:] if sent_to(ALICE, "Older on zanzibar")(call)]
    assert len(older) == 1, "one next page"


async def test_a_story_card_pressed_twice_is_posted_once(
    bot: RunningBot, telegram: FakeBotApi, failures: pytest.LogCaptureFixture
) -> None:
    [story] = await bot.work.storage.latest(None, limit=1)
    pushed = await bot_message(telegram)
    mark = telegram.mark()
    for _ in range(2):
        telegram.inject_callback_query(ALICE, pushed, f"card:{story.id}")

    first, second = await answers(telegram, mark, 2)

    assert said(first) == ""
    assert said(second) == "The story card is just above."
    await nothing_went_wrong(telegram, failures, mark)
    cards = [
        call
        for call in telegram.calls[mark:]
        if sent_to(ALICE, "")(call) and call.params.get("reply_parameters")
    ]
    assert len(cards) == 1, "the card is posted once, as a reply to the pushed story"


async def bot_message(telegram: FakeBotApi) -> int:
    """The id of a message of the bot's in Alice's chat: a card's "More" is pressed on it."""
    mark = telegram.mark()
    telegram.inject_message(ALICE, "/start")
    call = await telegram.wait_for_call(
        lambda call: call.method == "sendMessage" and call.params.get("chat_id") == ALICE,
        after=mark,
    )
    return int(call.result["message_id"])


@pytest.mark.parametrize(
    ("method", "description"),
    [
        ("editMessageReplyMarkup", "Bad Request: message to edit not found"),
        ("editMessageReplyMarkup", "Bad Request: message can't be edited"),
        (
            "answerCallbackQuery",
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        ),
    ],
)
async def test_more_pressed_late_is_answered_quietly(
    page: RecordedCall,
    telegram: FakeBotApi,
    failures: pytest.LogCaptureFixture,
    method: str,
    description: str,
) -> None:
    answer = await pressed_late(
        telegram,
        failures,
        int(page.result["message_id"]),
        more_of(page),
        method=method,
        description=description,
    )
    assert said(answer) == ""


async def test_a_card_pressed_under_a_deleted_message_is_answered_quietly(
    bot: RunningBot, telegram: FakeBotApi, failures: pytest.LogCaptureFixture
) -> None:
    [story] = await bot.work.storage.latest(None, limit=1)
    pushed = await bot_message(telegram)
    answer = await pressed_late(
        telegram,
        failures,
        pushed,
        f"card:{story.id}",
        method="sendMessage",
        description="Bad Request: message to be replied not found",
        chat_id=ALICE,
    )
    assert said(answer) == ""


async def test_a_settings_press_answered_too_late_is_no_failure(
    bot: RunningBot, telegram: FakeBotApi, failures: pytest.LogCaptureFixture
) -> None:
    shown = await ask(telegram, ALICE, "/settings", contains="Settings")
    assert "Silent pushes: off" in shown
    [call] = [c for c in telegram.calls_to("sendMessage") if "Settings" in str(c.params["text"])]
    await pressed_late(
        telegram,
        failures,
        int(call.result["message_id"]),
        f"set:{ALICE}:s:1",
        method="answerCallbackQuery",
        description="Bad Request: query is too old and response timeout expired or query ID "
        "is invalid",
    )


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (f"more:TOKEN:{SOME_MICROS}:{TWENTY_DIGITS}", EXPIRED),
        (f"more:TOKEN:{TWENTY_DIGITS}:1", EXPIRED),
        (f"more:TOKEN:{SOME_MICROS}:{STORY_ID_MAX + 1}", EXPIRED),
        ("more:TOKEN:x:y", EXPIRED),
        ("more:nosuchtoken:1:1", EXPIRED),
        (f"card:{TWENTY_DIGITS}", "This story is no longer kept."),
        ("card:-5", "This story is no longer kept."),
        ("card:123456", "This story is no longer kept."),
        ("set:-1009999999999:s:1", "This button no longer works. Send /settings."),
        ("set:1001:z:9", "This button no longer works. Send /settings."),
        ("set:x", "This button no longer works. Send /settings."),
    ],
)
async def test_a_forged_button_is_answered_and_nothing_more(
    page: RecordedCall,
    telegram: FakeBotApi,
    failures: pytest.LogCaptureFixture,
    data: str,
    answer: str,
) -> None:
    token = more_of(page).split(":")[1]
    mark = telegram.mark()
    telegram.inject_callback_query(
        ALICE, int(page.result["message_id"]), data.replace("TOKEN", token)
    )

    [answered] = await answers(telegram, mark, 1)

    assert said(answered) == answer
    await nothing_went_wrong(telegram, failures, mark)
    assert not [c for c in telegram.calls[mark:] if sent_to(ALICE, "Older on")(c)]


@pytest.mark.parametrize(
    "offset",
    [
        TWENTY_DIGITS,
        f"{SOME_MICROS}:{TWENTY_DIGITS}",
        f"{TWENTY_DIGITS}:1",
        f"{SOME_MICROS}:{STORY_ID_MAX + 1}",
        f"{SOME_MICROS}:0",
        "not a cursor",
    ],
)
async def test_a_forged_inline_offset_is_answered_with_no_more_results(
    bot: RunningBot, telegram: FakeBotApi, failures: pytest.LogCaptureFixture, offset: str
) -> None:
    answer = await inline(telegram, "", offset=offset)

    assert answer["results"] == []
    assert not answer.get("next_offset")
    assert not [r for r in failures.records if r.levelno >= logging.ERROR]


@pytest.mark.postgres
async def test_ids_past_postgresqls_integer_are_refused_before_the_database_sees_them(
    postgres_url: str,
    telegram: FakeBotApi,
    feeds: FeedServer,
    tmp_path: Path,
    failures: pytest.LogCaptureFixture,
) -> None:
    # 3,000,000,000 fits SQLite's integers and Python's, not PostgreSQL's INTEGER `stories.id`.
    too_big = 3_000_000_000
    async with seeded_bot(telegram, feeds, tmp_path, extra_env={"DATABASE_URL": postgres_url}):
        answer = await inline(telegram, "", offset=f"{SOME_MICROS}:{too_big}")
        assert answer["results"] == []

        pushed = await bot_message(telegram)
        mark = telegram.mark()
        telegram.inject_callback_query(ALICE, pushed, f"card:{too_big}")
        [answered] = await answers(telegram, mark, 1)
        assert said(answered) == "This story is no longer kept."
        await nothing_went_wrong(telegram, failures, mark)


# ---------------------------------------------------------------------- the parsers' properties


def a_story(published: datetime, story_id: int) -> Story:
    return Story(
        id=story_id,
        source_id=1,
        source_name="Example",
        title="A story",
        link="https://news.example.org/a",
        summary="",
        published_at=published,
        first_seen_at=published,
    )


_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
_IDS = st.integers(min_value=1, max_value=STORY_ID_MAX)
# Texts that look like cursors, of numbers of any size, besides any text at all.
_NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), st.text())
_CURSORS = st.one_of(st.text(), st.builds(lambda a, b: f"{a}:{b}", _NUMBERS, _NUMBERS))


@given(published=_TIMES, story_id=_IDS)
def test_a_cursor_the_bot_writes_is_read_back(published: datetime, story_id: int) -> None:
    text = cursor_text(a_story(published, story_id))

    parsed = parse_cursor(text)

    assert parsed is not None
    assert parsed[1] == story_id
    assert abs((parsed[0] - published).total_seconds()) < 1e-3
    assert parse_more_data(f"more:abc:{text}") == ("abc", parsed)


@given(text=_CURSORS)
def test_any_cursor_read_fits_the_databases_integers(text: str) -> None:
    parsed = parse_cursor(text)
    more = parse_more_data(f"more:tok:{text}")

    assert more is None or more[1] == parsed
    if parsed is not None:
        published, story_id = parsed
        assert 0 < story_id <= STORY_ID_MAX
        assert published.tzinfo is not None
        assert 0 <= int(text.split(":")[0]) <= CURSOR_MICROS_MAX


@given(text=_NUMBERS)
def test_any_card_data_read_names_a_possible_story(text: str) -> None:
    story_id = parse_card_data(f"card:{text}")

    assert story_id is None or 0 < story_id <= STORY_ID_MAX
    assert parse_card_data(f"more:{text}") is None
