"""Whatever a user types as a command's argument gets a clear answer, never "something went
wrong" and never a traceback in the log: through the real client and the fake Bot API, and as
hypothesis properties of the argument parsers behind /timezone, /digest and /latest."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.common import split_count
from handlers.controls import find_time_zone, parse_clock_time
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.harness import MACHINE_SPEED, RunningBot, seeded_bot

ADMIN = 42
# A second admin: the cases are more commands than one person may send in a minute.
SECOND_ADMIN = 43
SORRY = "something went wrong"
LONG_URL = "https://example.org/" + "a" * 4000

# (what the user sends, what the answer must say)
CASES = [
    ("/timezone Europe", "Unknown time zone “Europe”. Use an Area/City name such as Europe/Kyiv"),
    ("/timezone " + "Europe/" * 43, "Unknown time zone “Europe/Europe/Europe/Europe/Europe/Euro…”"),
    ("/timezone ../../etc/passwd", "Unknown time zone"),
    ("/timezone zone.tab", "Unknown time zone"),
    ("/timezone Europe/Kyiv\u0000", "Unknown time zone"),
    ("/timezone kyiv", "Time zone set to Europe/Kyiv"),
    ("/timezone new york", "Time zone set to America/New_York"),
    ("/latest ukraine ²", "ukraine 2"),
    ("/latest ukraine ½", "ukraine"),
    ("/latest ukraine ١", "Latest on ukraine"),
    ("/latest ukraine 99999", "No stories on <b>ukraine 99999</b>"),
    ("/latest " + "ukraine " * 500, "characters long"),
    ("/digest ٠٧:٣٠", "Daily digest at 07:30"),
    ("/digest ²:³⁰", "Send /digest HH:MM"),
    ("/digest " + "9" * 3000, "Send /digest HH:MM"),
    ("/digest off", "Digest off"),
    ("/subscribe ²", "Subscribed to: <b>2</b>"),
    ("/unsubscribe " + "x" * 4000, "characters long"),
    ("/removesource " + LONG_URL, "No source https://example.org/aaaa"),
    ("/addsource ../etc/passwd", "Not added"),
    ("/addsource " + LONG_URL, "Not added"),
]


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    admins = {"NEWSBOT_ADMINS": f"{ADMIN},{SECOND_ADMIN}"}
    async with seeded_bot(
        telegram, feeds, tmp_path, extra_env=admins, admission=MACHINE_SPEED
    ) as running:
        yield running


async def test_bad_arguments_get_a_clear_answer_and_no_traceback(
    bot: RunningBot, telegram: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for number, (command, expected) in enumerate(CASES):
        user = ADMIN if number % 2 else SECOND_ADMIN
        mark = telegram.mark()
        telegram.inject_message(user, command, user_id=user)
        answer = str((await telegram.wait_for_message(user, after=mark))["text"])
        assert expected in answer, (command[:40], answer)
        assert SORRY not in answer and len(answer) < 1000

    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]


@given(st.text(max_size=400))
def test_any_time_zone_text_is_a_known_zone_or_none(text: str) -> None:
    found = find_time_zone(text)
    assert found is None or (found in available_timezones() and ZoneInfo(found).key == found)


@given(st.sampled_from(sorted(available_timezones())))
def test_every_zone_name_is_found_in_any_case(name: str) -> None:
    assert find_time_zone(name.upper()) == name


@given(st.text(max_size=50) | st.from_regex(r"\A\d{1,3}:\d{1,3}\Z"))
def test_any_digest_text_is_a_clock_time_or_none(text: str) -> None:
    when = parse_clock_time(text)
    if when is not None:
        hour, minute = when.split(":")
        assert when.isascii() and len(when) == 5
        assert 0 <= int(hour) < 24 and 0 <= int(minute) < 60


@given(st.lists(st.text(min_size=1, max_size=30).filter(lambda w: not w.isspace()), max_size=6))
def test_any_latest_arguments_split_into_a_topic_and_a_count(words: list[str]) -> None:
    topic, count = split_count(words)
    if count is None:
        assert topic == " ".join(words)
    else:
        assert 0 <= count <= 9999 and topic == " ".join(words[:-1])
