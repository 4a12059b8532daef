"""The poll decider on plain values: what a poll records for its source and when it polls next."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from news.errors import FetchError, ParseError
from news.feeds.fetch import FetchResult, HTTPStatusError
from news.feeds.parse import ParsedEntry, ParsedFeed
from news.model import Source
from news.polling import ScheduleSettings
from news.polling import decide as polling

NOW = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)
URL = "https://example.org/feed.xml"
# No jitter: a success's next poll is exactly its interval away.
SETTINGS = ScheduleSettings(floor=timedelta(minutes=5), ceiling=timedelta(hours=1), jitter=0.0)
BODY = b"<rss><channel><title>Example</title></channel></rss>"
SOURCE = Source(
    1,
    URL,
    etag='"old"',
    content_hash=polling.body_hash(FetchResult(URL, 200, BODY)),
    last_success_at=NOW - timedelta(minutes=20),
    poll_interval=timedelta(minutes=20),
    target_interval=timedelta(minutes=20),
)


def rng() -> random.Random:
    return random.Random(7)


def entries(gap: timedelta, count: int) -> list[ParsedEntry]:
    return [
        ParsedEntry(f"id-{n}", f"Story {n}", "", f"{URL}#{n}", NOW - gap * (n + 1), "en", ())
        for n in range(count)
    ]


NEW = FetchResult(URL, 200, b"<rss>new</rss>")


def read(feed: ParsedFeed, source: Source = SOURCE, answer: FetchResult = NEW) -> polling.Decision:
    content_hash = polling.body_hash(answer)
    assert polling.unchanged(source, answer, content_hash, NOW, SETTINGS, rng()) is None
    return polling.parsed(source, answer, feed, content_hash, NOW, SETTINGS, rng())


def test_a_304_slows_the_polls_step_by_step_and_costs_no_parse() -> None:
    answer = FetchResult(URL, 304, etag='"new"', headers={"Cache-Control": "max-age=60"})
    decision = polling.unchanged(SOURCE, answer, polling.body_hash(answer), NOW, SETTINGS, rng())
    assert decision is not None and decision.status == "not-modified"
    record = decision.record
    assert record.target_interval == SETTINGS.ceiling  # nothing new: no sign of a busy feed
    assert record.next_poll_at == NOW + timedelta(minutes=30)  # grows 1.5-fold a poll
    assert (record.etag, record.content_hash, record.title, record.error_kind) == (
        '"new"',
        None,
        None,
        None,
    )
    assert decision.outcome(URL).summary_line() == f"· {URL}: not modified"


def test_the_same_body_again_is_unchanged_and_a_new_one_must_be_parsed() -> None:
    same = FetchResult(URL, 200, BODY)
    decision = polling.unchanged(SOURCE, same, polling.body_hash(same), NOW, SETTINGS, rng())
    assert decision is not None and decision.status == "unchanged"
    assert decision.outcome(URL).next_poll_at == NOW + timedelta(minutes=30)
    new = FetchResult(URL, 200, BODY + b" ")
    assert polling.unchanged(SOURCE, new, polling.body_hash(new), NOW, SETTINGS, rng()) is None


def test_a_busy_feed_is_polled_sooner_and_a_quiet_one_later_step_by_step() -> None:
    busy = read(ParsedFeed("Busy", "en", entries(timedelta(minutes=1), 50)))
    assert busy.status == "ok"
    assert busy.record.next_poll_at == NOW + SETTINGS.floor  # shrinks at once
    quiet = read(ParsedFeed("Quiet", "en", entries(timedelta(days=2), 3)))
    assert quiet.record.target_interval == SETTINGS.ceiling
    assert quiet.record.poll_interval == timedelta(minutes=30)  # grows 1.5-fold a poll
    assert quiet.record.next_poll_at == NOW + timedelta(minutes=30)


def test_a_feeds_own_hint_slows_its_polls_but_never_past_the_ceiling() -> None:
    busy = entries(timedelta(minutes=1), 50)
    ttl = read(ParsedFeed("T", "en", busy, min_interval=timedelta(minutes=15)))
    assert ttl.record.target_interval == timedelta(minutes=15)
    cached = read(
        ParsedFeed("T", "en", busy), answer=replace(NEW, headers={"Cache-Control": "max-age=86400"})
    )
    assert cached.record.target_interval == SETTINGS.ceiling


def test_a_read_feed_keeps_its_title_validators_body_hash_and_new_address() -> None:
    moved = f"{URL}?moved"
    decision = read(
        ParsedFeed("Example News", "en", entries(timedelta(hours=1), 5)),
        answer=replace(
            NEW, etag='"v2"', last_modified="Fri, 14 Feb 2025 11:00:00 GMT", permanent_url=moved
        ),
    )
    record = decision.record
    assert (record.title, record.etag, record.url) == ("Example News", '"v2"', moved)
    assert record.last_modified == "Fri, 14 Feb 2025 11:00:00 GMT"
    assert record.content_hash == polling.body_hash(NEW) != SOURCE.content_hash
    outcome = decision.outcome(URL, new_story_ids=[4, 5], seen_entries=5, queued_deliveries=3)
    assert (outcome.moved_to, outcome.new_stories, outcome.error) == (moved, 2, None)
    assert outcome.summary_line() == f"✓ {URL}: 5 entries, 2 new, 3 to push"


def test_a_source_back_from_failures_starts_again_from_its_last_normal_interval() -> None:
    failing = replace(SOURCE, error_count=6)
    decision = read(ParsedFeed("Back", "en", entries(timedelta(days=2), 3)), source=failing)
    assert decision.record.poll_interval == timedelta(minutes=30)
    assert decision.record.error_kind is None


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    delays = []
    for failures in range(12):
        source = replace(SOURCE, error_count=failures)
        error = FetchError("could not connect", kind="connect")
        decision = polling.failed(source, error, NOW, SETTINGS, rng())
        assert (decision.status, decision.error_kind, decision.record.error) == (
            "error",
            "connect",
            "could not connect",
        )
        delays.append(decision.record.next_poll_at - NOW)
    for failures, delay in enumerate(delays):
        full = min(SETTINGS.floor * 2**failures, SETTINGS.backoff_cap)
        assert full / 2 <= delay <= full, (failures, delay)
    assert delays[-1] <= SETTINGS.backoff_cap


def test_a_gone_feed_is_disabled_and_says_so() -> None:
    decision = polling.failed(SOURCE, HTTPStatusError(410, "Gone"), NOW, SETTINGS, rng())
    assert decision.record.disable and decision.error_kind == "http-410"
    outcome = decision.outcome(URL)
    assert outcome.disabled and outcome.error_kind == "http-410"
    assert outcome.summary_line() == f"✗ {URL}: HTTP 410 Gone (the feed is gone; source disabled)"


def test_retry_after_is_honoured_on_429_and_503_but_not_below_the_floor() -> None:
    busy = HTTPStatusError(429, "Too Many Requests", retry_after="3600")
    decision = polling.failed(SOURCE, busy, NOW, SETTINGS, rng())
    assert decision.record.next_poll_at == NOW + timedelta(hours=1)
    assert not decision.record.disable
    hurried = HTTPStatusError(503, "Service Unavailable", retry_after="1")
    assert polling.failed(SOURCE, hurried, NOW, SETTINGS, rng()).record.next_poll_at == (
        NOW + SETTINGS.floor
    )
    ignored = HTTPStatusError(500, "Server Error", retry_after="3600")
    assert polling.failed(SOURCE, ignored, NOW, SETTINGS, rng()).record.next_poll_at <= (
        NOW + SETTINGS.floor
    )


def test_a_feed_that_cannot_be_read_is_an_error_with_its_kind() -> None:
    error = ParseError("that page is HTML, not a feed", kind="html")
    outcome = polling.failed(SOURCE, error, NOW, SETTINGS, rng()).outcome(URL)
    assert (outcome.status, outcome.error_kind, outcome.moved_to) == ("error", "html", None)
    assert outcome.error == "that page is HTML, not a feed"
    assert outcome.next_poll_at is not None and outcome.next_poll_at > NOW
