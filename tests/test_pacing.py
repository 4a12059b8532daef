"""Pushes never break Telegram's limits: the pacer's send times, on a virtual clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from news.pacing import Limits, SendPacer


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


def test_admission_keeps_actual_send_times_under_the_rate_when_the_loop_lags() -> None:
    pacer = SendPacer(Limits(global_per_second=25))
    booked = [(chat, pacer.reserve(chat, now=0.0)) for chat in range(1, 51)]
    woke_late_at = 1.5  # every booking up to here fires at once after a stall
    admitted = []
    now = woke_late_at
    for chat, start in booked:
        now = max(now, start)
        while (wait := pacer.admit(chat, now)) > 0:
            now += wait
        admitted.append(now)
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t < start + 1.0) <= 25


def test_a_message_that_left_late_holds_back_the_next_one_to_its_chat() -> None:
    pacer = SendPacer(Limits(global_per_second=1000, private_interval=1.0))
    first = pacer.reserve(7, now=0.0)
    assert pacer.admit(7, now=first + 0.4) == 0.0  # it left 0.4 s late
    second = pacer.reserve(7, now=0.5)
    assert second == 1.0
    assert pacer.admit(7, now=second) == pytest.approx(0.4)
