"""Pushes never break Telegram's limits and no flood gets past its budget: pacer and admission,
on a virtual clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.pacing import Admission, AdmissionLimits, Budget, Limits, SendPacer


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


def test_a_user_gets_their_budget_of_commands_a_minute_then_one_slow_down() -> None:
    admission = Admission(AdmissionLimits(user_commands=Budget(8), warn_every=60.0))
    verdicts = [admission.judge("command", 42, 42, now=float(second)) for second in range(12)]
    assert verdicts == ["go"] * 8 + ["warn"] + ["drop"] * 3
    assert admission.judge("command", 7, 7, now=12.0) == "go", "other users are not affected"
    assert admission.judge("command", 42, 42, now=60.0) == "go", "the first left the window"
    later = [admission.judge("command", 42, 42, now=100.0) for _ in range(9)]
    assert later.count("go") == 7 and later[-2:] == ["warn", "drop"], (
        "one command still in the window; a minute after the last slow down, another"
    )


def test_a_group_has_one_budget_for_all_its_members_and_one_slow_down_a_minute() -> None:
    admission = Admission(AdmissionLimits(user_commands=Budget(8), group_commands=Budget(12)))
    group = -100
    verdicts = [admission.judge("command", user, group, now=1.0) for user in range(20)]
    assert verdicts == ["go"] * 12 + ["warn"] + ["drop"] * 7
    assert admission.judge("command", 99, -200, now=2.0) == "go", "another group is not affected"
    assert admission.judge("command", 99, 99, now=2.0) == "go", "nor a member's private chat"


def test_refused_updates_do_not_count_against_the_sender() -> None:
    """A flood's refused part does not keep its sender out once the window has moved on."""
    admission = Admission(AdmissionLimits(user_commands=Budget(2, window=10.0)))
    assert [admission.judge("command", 5, 5, now=0.0) for _ in range(100)].count("go") == 2
    assert admission.judge("command", 5, 5, now=10.0) == "go"


def test_buttons_commands_and_inline_queries_have_separate_budgets() -> None:
    limits = AdmissionLimits(user_commands=Budget(1), user_buttons=Budget(1), user_inline=Budget(1))
    admission = Admission(limits)
    assert [admission.judge(kind, 3, 3, now=0.0) for kind in ("command", "button")] == ["go"] * 2
    assert admission.judge("inline", 3, None, now=0.0) == "go"
    assert admission.judge("button", 3, 3, now=0.0) == "warn", "a toast for the presser"
    assert admission.judge("inline", 3, None, now=0.0) == "drop", "inline refusals are silent"


def test_a_chat_that_asks_more_than_a_few_times_a_minute_is_busy_for_a_minute() -> None:
    admission = Admission(AdmissionLimits(busy_after=5, busy_window=60.0))
    for second in range(5):
        admission.judge("command", 1, -10, now=float(second))
    assert not admission.busy(-10, now=5.0)
    admission.overflow("command", 1, -10, now=5.0)
    assert admission.busy(-10, now=5.0), "refused attempts count too"
    assert not admission.busy(-11, now=5.0) and not admission.busy(None, now=5.0)
    assert not admission.busy(-10, now=61.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-2, 2), st.floats(0, 1.0)),
        max_size=300,
    )
)
def test_no_user_or_group_ever_gets_more_than_its_budget_in_a_window(
    arrivals: list[tuple[int, int, float]],
) -> None:
    """Against a plain count over the admitted updates, for any arrival pattern."""
    limits = AdmissionLimits(user_commands=Budget(3, 10.0), group_commands=Budget(4, 10.0))
    admission = Admission(limits)
    now, admitted = 0.0, []
    for user, chat_index, gap in arrivals:
        now += gap
        chat = user + 1 if chat_index >= 0 else chat_index  # private: the user's own chat
        if admission.judge("command", user, chat, now) == "go":
            admitted.append((user, chat, now))
    for _, _, at in admitted:
        in_window = [(u, c) for u, c, t in admitted if at <= t < at + 10.0]
        for user in range(4):
            assert sum(1 for u, _ in in_window if u == user) <= 3
        for group in (-1, -2):
            assert sum(1 for _, c in in_window if c == group) <= 4
