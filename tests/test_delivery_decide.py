"""The delivery rules on plain values (`news.delivery`): no fake Bot API, no database.

Each rule's cases: a story fresh or stale (with and without the digest's grace), quiet hours
across midnight and in time zones, the digest threshold, the outage's probe and pauses, the
claim's lease, what a send's result makes of its rows (give up, retry, stop), one push per
event and the "Also:" edit window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from news.delivery import (
    QUIET_DIGEST_LIMIT,
    STALE_ERROR,
    ChatMoved,
    Done,
    DropStale,
    Failure,
    FloodWait,
    GiveUp,
    Hold,
    Lapsed,
    Outage,
    Retry,
    SendCard,
    SendDigest,
    Sent,
    Stop,
    by_place,
    decide,
    edit_due,
    first_per_event,
    gate,
    holds_event,
    lease_ends,
    pushable,
    quiet_rest,
    quiet_until,
    settle,
)
from news.model import ChatSettings, Delivery, Story, TopicMatch
from news.policy import DIGEST_GRACE, DIGEST_THRESHOLD, EDIT_WINDOW, MAX_BACKOFF, PUSH_MAX_AGE

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
CHAT = ChatSettings(1, kind="private")
# 23:00–07:00, read in Kyiv (UTC+2 in March).
NIGHTS = ChatSettings(
    1, kind="private", quiet_start=23 * 60, quiet_end=7 * 60, timezone="Europe/Kyiv"
)


def row(row_id: int, age: timedelta = timedelta(minutes=5), *, held: bool = False) -> Delivery:
    story = Story(row_id, 1, "BBC", f"Story {row_id}", "", "", NOW - age, NOW - age)
    return Delivery(row_id, 1, story, ("ukraine",), "sending", held=held)


def ids(rows: tuple[Delivery, ...]) -> list[int]:
    return [r.id for r in rows]


# Age: a push is news for PUSH_MAX_AGE; a digest held back keeps DIGEST_GRACE more.


def test_a_story_is_pushable_up_to_the_push_age_and_a_digest_keeps_its_grace() -> None:
    assert pushable(NOW - PUSH_MAX_AGE, NOW)
    assert not pushable(NOW - PUSH_MAX_AGE - timedelta(seconds=1), NOW)
    assert pushable(NOW - PUSH_MAX_AGE - timedelta(hours=1), NOW, grace=True)
    assert not pushable(NOW - PUSH_MAX_AGE - DIGEST_GRACE - timedelta(seconds=1), NOW, grace=True)


def test_stale_rows_are_dropped_and_the_fresh_ones_still_go() -> None:
    stale, fresh = row(1, PUSH_MAX_AGE + timedelta(hours=1)), row(2)
    assert decide([stale, fresh], CHAT, NOW) == [DropStale((stale,)), SendCard(fresh)]
    assert DropStale((stale,)).error == STALE_ERROR


def test_a_daily_digest_and_a_quiet_hours_digest_keep_the_grace() -> None:
    late = row(1, PUSH_MAX_AGE + timedelta(hours=1))
    assert decide([late], CHAT, NOW, daily=True) == [SendDigest((late,), "daily")]
    held = row(1, PUSH_MAX_AGE + timedelta(hours=1), held=True)
    assert decide([held], CHAT, NOW) == [SendDigest((held,), "quiet")]
    too_late = row(2, PUSH_MAX_AGE + DIGEST_GRACE + timedelta(minutes=1))
    assert decide([too_late], CHAT, NOW, daily=True) == [DropStale((too_late,))]


# The digest threshold.


def test_up_to_the_threshold_rows_go_as_cards_and_more_as_one_digest() -> None:
    few = [row(i) for i in range(DIGEST_THRESHOLD)]
    assert decide(few, CHAT, NOW) == [SendCard(r) for r in few]
    many = [row(i) for i in range(DIGEST_THRESHOLD + 1)]
    assert decide(many, CHAT, NOW) == [SendDigest(tuple(many), "many")]


def test_one_held_row_makes_the_whole_place_a_quiet_digest_however_few() -> None:
    rows = [row(1, held=True), row(2)]
    assert decide(rows, CHAT, NOW) == [SendDigest(tuple(rows), "quiet")]


def test_nothing_claimed_is_nothing_to_do() -> None:
    assert decide([], NIGHTS, NOW) == []


# Quiet hours: across midnight, in the chat's time zone.


def test_quiet_hours_across_midnight_end_the_next_morning_in_the_chats_zone() -> None:
    late = datetime(2024, 3, 1, 22, 30, tzinfo=UTC)  # 00:30 in Kyiv
    assert quiet_until(23 * 60, 7 * 60, "Europe/Kyiv", late) == datetime(
        2024, 3, 2, 5, 0, tzinfo=UTC
    )
    evening = datetime(2024, 3, 1, 21, 30, tzinfo=UTC)  # 23:30 in Kyiv: the night has begun
    assert quiet_until(23 * 60, 7 * 60, "Europe/Kyiv", evening) == datetime(
        2024, 3, 2, 5, 0, tzinfo=UTC
    )
    assert quiet_until(23 * 60, 7 * 60, "UTC", late) is None  # 22:30 in UTC: not yet
    assert quiet_until(23 * 60, 7 * 60, "Europe/Kyiv", NOW) is None  # 14:00 in Kyiv


def test_rows_due_in_quiet_hours_are_held_until_they_end() -> None:
    night = datetime(2024, 3, 1, 23, 0, tzinfo=UTC)  # 01:00 in Kyiv
    rows = [row(1), row(2)]
    (hold,) = decide(rows, NIGHTS, night)
    assert hold == Hold(tuple(rows), datetime(2024, 3, 2, 5, 0, tzinfo=UTC))


def test_a_daily_digest_is_not_held_by_quiet_hours() -> None:
    night = datetime(2024, 3, 1, 23, 0, tzinfo=UTC)
    assert decide([row(1)], NIGHTS, night, daily=True) == [SendDigest((row(1),), "daily")]


def test_when_quiet_hours_end_the_rest_they_held_is_claimed_for_one_digest() -> None:
    night, morning = datetime(2024, 3, 1, 23, 0, tzinfo=UTC), datetime(2024, 3, 2, 5, 0, tzinfo=UTC)
    assert quiet_rest([row(1, held=True)], NIGHTS, morning) == QUIET_DIGEST_LIMIT
    assert quiet_rest([row(1, held=True)], NIGHTS, night) == 0  # still quiet: held again
    assert quiet_rest([row(1)], NIGHTS, morning) == 0  # nothing was held


@given(
    start=st.integers(0, 24 * 60 - 1),
    end=st.integers(0, 24 * 60 - 1),
    minutes=st.integers(0, 7 * 24 * 60),
    held=st.lists(st.booleans(), min_size=1, max_size=8),
    daily=st.booleans(),
)
def test_every_row_gets_exactly_one_action_and_a_held_row_is_never_sent(
    start: int, end: int, minutes: int, held: list[bool], daily: bool
) -> None:
    chat = ChatSettings(1, kind="group", quiet_start=start, quiet_end=end, timezone="Asia/Tokyo")
    now = NOW + timedelta(minutes=minutes)
    rows = [row(i, timedelta(hours=i * 5), held=h) for i, h in enumerate(held)]
    seen: list[int] = []
    holds = sends = 0
    for action in decide(rows, chat, now, daily=daily):
        match action:
            case Hold(covered, until):
                holds += 1
                assert until > now
            case DropStale(covered, _) | SendDigest(covered, _):
                sends += isinstance(action, SendDigest)
            case SendCard(card):
                sends += 1
                covered = (card,)
        seen += ids(covered)
    assert sorted(seen) == [r.id for r in rows]
    assert not (holds and sends), "a place is never both held and sent"


def test_rows_are_grouped_by_chat_and_forum_topic() -> None:
    topic = Delivery(9, 1, row(9).story, (), "sending", thread_id=7)
    assert by_place([row(1), topic, row(2)]) == {(1, 0): [row(1), row(2)], (1, 7): [topic]}


# The outage: pauses that double up to MAX_BACKOFF, one probe, then the fan-out again.


def test_an_outage_pauses_longer_each_failure_up_to_the_cap() -> None:
    outage, now, pauses = Outage(), NOW, []
    for _ in range(8):
        outage = outage.failed(now)
        assert outage.until is not None and not outage.available(now)
        pauses.append((outage.until - now).total_seconds())
        now = outage.until
    assert pauses == [2, 4, 8, 16, 30, 30, 30, 30] and MAX_BACKOFF.total_seconds() == 30
    assert outage.since == NOW and outage.streak == 8


def test_a_failure_in_flight_during_a_pause_changes_nothing() -> None:
    down = Outage().failed(NOW)
    assert down.failed(NOW + timedelta(seconds=1)) == down


def test_after_an_outage_one_probe_goes_first_then_the_batch() -> None:
    assert Outage().claim_size(500) == 500
    down = Outage().failed(NOW)
    assert down.claim_size(500) == 1  # the probe
    fate, up = settle(Sent(42), NOW + timedelta(seconds=2), down)
    assert fate == Done(42) and up.streak == 0 and up.claim_size(500) == 500


def test_an_unreachable_api_retries_the_rows_when_the_pause_ends_never_gives_up() -> None:
    fate, down = settle(Failure("unreachable", "502 Bad Gateway"), NOW, Outage())
    assert fate == Retry(NOW + timedelta(seconds=2), "502 Bad Gateway")
    assert down.streak == 1


def test_nothing_goes_out_while_the_api_is_known_to_be_down() -> None:
    down = Outage().failed(NOW)
    assert gate(NOW, down, None) == Failure("unreachable", "Bot API unavailable")
    assert gate(NOW + timedelta(seconds=2), down, None) is None


# The claim's lease: a sender slower than it leaves the rows to the next claim.


def test_a_claim_is_sent_in_only_until_most_of_its_lease_is_spent() -> None:
    ends = lease_ends(NOW, timedelta(seconds=60))
    assert ends == NOW + timedelta(seconds=48)
    assert gate(ends - timedelta(seconds=1), Outage(), ends) is None
    assert gate(ends, Outage(), ends) == Lapsed()
    assert settle(Lapsed(), ends, Outage()) == (Stop(Lapsed()), Outage())


# What a result makes of the rows: give up, retry, stop.


def test_a_refused_message_is_given_up_and_a_flood_wait_retried_after_it() -> None:
    assert settle(Failure("refused", "can't parse"), NOW, Outage())[0] == GiveUp("can't parse")
    wait = FloodWait(timedelta(seconds=30), "retry after 30")
    assert settle(wait, NOW, Outage())[0] == Retry(NOW + timedelta(seconds=30), "retry after 30")


def test_a_chat_gone_moved_or_its_topic_gone_stops_the_place() -> None:
    for result in (Failure("chat gone", "blocked"), Failure("topic gone", "closed"), ChatMoved(7)):
        assert settle(result, NOW, Outage())[0] == Stop(result)


# One push per event; the "Also:" edit window.


def test_a_place_owed_an_event_gets_no_second_push_of_it() -> None:
    matches = [TopicMatch(1, 10, ("a",)), TopicMatch(1, 11, ("a",)), TopicMatch(1, 11, ("a",), 5)]
    # Stories 10 and 11 report one event (cluster 10); topic 5 of the chat is a place of its own.
    owed: set[tuple[int, int, int]] = set()
    assert first_per_event(matches, {10: 10, 11: 10}, owed) == [matches[0], matches[2]]
    assert first_per_event([TopicMatch(1, 12, ())], {12: 10}, owed) == []


def test_a_push_that_failed_for_good_does_not_hold_its_event() -> None:
    assert holds_event("sent", 10, asked=set())
    assert not holds_event("failed", 10, asked={11})
    assert holds_event("failed", 10, asked={10})  # the very story: once at most


def test_a_card_is_edited_within_the_window_while_it_is_owed_or_out() -> None:
    assert edit_due("sent", NOW - EDIT_WINDOW + timedelta(minutes=1), NOW)
    assert edit_due("pending", NOW, NOW)
    assert not edit_due("sent", NOW - EDIT_WINDOW, NOW)
    assert not edit_due("failed", NOW, NOW)
