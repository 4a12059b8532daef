"""Pushes never break Telegram's limits: the pacer's send times, on a virtual clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from news.pacing import CommandBudget, CommandLimits, Limits, SendPacer


def test_global_rate_spaces_messages_to_different_chats() -> None:
    pacer = SendPacer(Limits(global_per_second=25))
    times = [pacer.reserve(chat, now=0.0) for chat in range(1, 51)]
    assert times[0] == 0.0
    assert times[-1] == pytest.approx(49 / 25)
    assert sum(1 for t in times if t < 1.0) == 25


def test_a_private_chat_gets_at_most_one_message_per_second() -> None:
    pacer = SendPacer(Limits(global_per_second=1000, private_interval=1.0))
    assert [pacer.reserve(7, now=0.0) for _ in range(3)] == [0.0, 1.0, 2.0]


def test_a_group_gets_at_most_twenty_messages_per_minute() -> None:
    pacer = SendPacer(Limits(global_per_second=1000, group_window=60.0))
    times = [pacer.reserve(-100, now=0.0) for _ in range(41)]
    assert times[19] < 1.0
    assert times[20] == 60.0
    assert times[40] == 120.0


def test_retry_after_holds_back_only_the_chat_it_covers() -> None:
    pacer = SendPacer(Limits(global_per_second=1000))
    pacer.retry_after(5, now=10.0, seconds=7)
    assert pacer.chat_ready(5, now=10.0) == 17.0
    assert pacer.reserve(6, now=10.0) == 10.0
    assert pacer.reserve(5, now=17.0) == 17.0


@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 3, -10, -11]), st.floats(min_value=0, max_value=100)),
        max_size=200,
    )
)
def test_no_window_ever_holds_more_than_the_limits_allow(
    requests: list[tuple[int, float]],
) -> None:
    limits = Limits(global_per_second=30)
    pacer = SendPacer(limits)
    booked: list[tuple[int, float]] = []
    now = 0.0
    for chat, step in requests:
        now += step / 100
        booked.append((chat, pacer.reserve(chat, now)))
    times = sorted(t for _, t in booked)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0 - 1e-9) <= 30
    for chat in (1, 2, 3):
        mine = sorted(t for c, t in booked if c == chat)
        assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(mine))
    for chat in (-10, -11):
        mine = sorted(t for c, t in booked if c == chat)
        for i, start in enumerate(mine):
            assert sum(1 for t in mine[i:] if t < start + 60.0 - 1e-9) <= 20


def test_a_429_that_names_no_chat_holds_back_every_chat() -> None:
    pacer = SendPacer(Limits(global_per_second=1000))
    pacer.retry_after(None, now=10.0, seconds=5)
    assert pacer.global_ready(10.0) == 15.0
    assert pacer.reserve(6, now=10.0) == 15.0
    assert pacer.chat_ready(7, now=10.0) == 10.0, "the chat itself is free; the global slot waits"


def test_requests_to_no_chat_use_only_the_global_rate() -> None:
    pacer = SendPacer(Limits(global_per_second=10))
    assert [pacer.reserve(None, now=0.0) for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])


def test_a_user_gets_twenty_commands_a_minute_then_one_slow_down() -> None:
    budget = CommandBudget(CommandLimits(per_window=20, window=60.0, warn_every=60.0))
    verdicts = [budget.check(42, now=float(second)) for second in range(25)]
    assert verdicts == ["go"] * 20 + ["warn"] + ["drop"] * 4
    assert budget.check(7, now=25.0) == "go", "other users are not affected"
    assert budget.check(42, now=60.0) == "go", "the first command has left the window"
    later = [budget.check(42, now=100.0) for _ in range(21)]
    assert later.count("go") == 19 and later[-2:] == ["warn", "drop"], (
        "one command still in the window; a minute after the last slow down, another"
    )
