"""When sources are polled: adaptive intervals, hints, backoff, claiming by several pollers."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from news.model import PollRecord
from news.polling import (
    ScheduleSettings,
    backoff,
    max_age,
    next_interval,
    publication_rate,
    retry_after,
    target_interval,
)
from storage import SqlStorage, create_engine
from storage.database import migrate

NOW = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)
SETTINGS = ScheduleSettings(floor=timedelta(minutes=5), ceiling=timedelta(hours=1))


def every(gap: timedelta, count: int) -> list[datetime]:
    return [NOW - gap * (n + 1) for n in range(count)]


def test_busy_feeds_are_polled_more_often_than_quiet_ones() -> None:
    busy = target_interval(publication_rate(every(timedelta(minutes=3), 40), NOW), [], SETTINGS)
    hourly = target_interval(publication_rate(every(timedelta(hours=1), 40), NOW), [], SETTINGS)
    quiet = target_interval(publication_rate(every(timedelta(days=2), 10), NOW), [], SETTINGS)
    assert busy == SETTINGS.floor
    assert SETTINGS.floor < hourly < SETTINGS.ceiling
    assert quiet == SETTINGS.ceiling
    assert target_interval(None, [], SETTINGS) == SETTINGS.ceiling


def test_undated_entries_do_not_count_towards_the_rate() -> None:
    assert publication_rate([NOW, NOW, NOW], NOW) is None


def test_hints_are_lower_bounds_within_the_ceiling() -> None:
    busy = publication_rate(every(timedelta(minutes=1), 50), NOW)
    assert target_interval(busy, [timedelta(minutes=20)], SETTINGS) == timedelta(minutes=20)
    assert target_interval(busy, [timedelta(hours=5)], SETTINGS) == SETTINGS.ceiling
    assert target_interval(busy, [None], SETTINGS) == SETTINGS.floor
    assert max_age({"Cache-Control": "public, max-age=600"}) == timedelta(minutes=10)
    assert max_age({"cache-control": "no-cache"}) is None


def test_the_interval_grows_gradually_and_shrinks_at_once() -> None:
    assert next_interval(None, SETTINGS.ceiling, SETTINGS) == SETTINGS.floor * 1.5
    assert next_interval(timedelta(minutes=40), SETTINGS.ceiling, SETTINGS) == SETTINGS.ceiling
    assert next_interval(timedelta(minutes=40), SETTINGS.floor, SETTINGS) == SETTINGS.floor


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(1)
    delays = [backoff(n, SETTINGS, rng) for n in range(1, 20)]
    assert SETTINGS.floor / 2 <= delays[0] <= SETTINGS.floor
    assert all(delay <= timedelta(hours=6) for delay in delays)
    assert delays[-1] >= timedelta(hours=3)
    assert len({delay for delay in delays[-5:]}) > 1, "jitter spreads retries"


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("120", NOW, SETTINGS) == SETTINGS.floor, "at least the floor"
    assert retry_after("900", NOW, SETTINGS) == timedelta(minutes=15)
    assert retry_after("Fri, 14 Feb 2025 14:00:00 GMT", NOW, SETTINGS) == timedelta(hours=2)
    assert retry_after("9999999", NOW, SETTINGS) == timedelta(days=1)
    assert retry_after("soon", NOW, SETTINGS) is None
    assert retry_after(None, NOW, SETTINGS) is None


async def test_claiming_takes_each_due_source_once(storage: SqlStorage) -> None:
    for n in range(5):
        await storage.add_source(f"https://e{n}.example/feed", now=NOW)
    lease = NOW + timedelta(minutes=10)
    first = await storage.claim_due_sources(NOW, lease_until=lease, limit=3)
    second = await storage.claim_due_sources(NOW, lease_until=lease)
    third = await storage.claim_due_sources(NOW, lease_until=lease)
    assert len(first) == 3 and len(second) == 2 and third == []
    assert {s.id for s in first}.isdisjoint({s.id for s in second})
    again = await storage.claim_due_sources(lease, lease_until=lease + timedelta(minutes=10))
    assert len(again) == 5, "an expired lease makes the source due again"


async def test_a_ticks_outcomes_are_recorded_together(storage: SqlStorage) -> None:
    for name in ("ok", "moved", "failing", "gone", "taken"):
        await storage.add_source(f"https://{name}.example/feed", now=NOW)
    ids = {urlsplit(s.url).hostname: s.id for s in await storage.list_sources()}
    await storage.record_outcomes(
        [
            PollRecord(ids["ok.example"], NOW, NOW, title="Kept", content_hash="h1"),
            PollRecord(ids["failing.example"], NOW, NOW, error_kind="timeout", error="slow"),
        ]
    )
    later = NOW + timedelta(minutes=5)
    await storage.record_outcomes(
        [
            # No title nor hash this time (a 304): the stored ones stay.
            PollRecord(ids["ok.example"], later, later + timedelta(minutes=7), etag='"v2"'),
            PollRecord(
                ids["moved.example"],
                later,
                later,
                poll_interval=timedelta(minutes=6),
                target_interval=timedelta(minutes=9),
                url="https://new.example/feed",
            ),
            PollRecord(ids["failing.example"], later, later, error_kind="http-500", error="boom"),
            PollRecord(ids["gone.example"], later, later, error_kind="http-410", disable=True),
            PollRecord(ids["taken.example"], later, later, url="https://ok.example/feed"),
        ]
    )
    after = {s.id: s for s in await storage.list_sources()}
    ok = after[ids["ok.example"]]
    assert (ok.title, ok.content_hash, ok.etag) == ("Kept", "h1", '"v2"')
    assert ok.next_poll_at == later + timedelta(minutes=7) and ok.last_success_at == later
    moved = after[ids["moved.example"]]
    assert moved.url == "https://new.example/feed"
    assert (moved.poll_interval, moved.target_interval) == (
        timedelta(minutes=6),
        timedelta(minutes=9),
    )
    failing = after[ids["failing.example"]]
    assert (failing.error_count, failing.last_error_kind, failing.last_error) == (
        2,
        "http-500",
        "boom",
    )
    assert failing.enabled and not after[ids["gone.example"]].enabled
    assert after[ids["taken.example"]].url == "https://taken.example/feed", "URL already used"


@pytest.mark.postgres
async def test_two_pollers_on_postgresql_never_claim_the_same_source(
    postgres_database: str,
) -> None:
    engines = [create_engine(postgres_database) for _ in range(2)]
    await migrate(engines[0])
    one, two = (SqlStorage(engine) for engine in engines)
    try:
        async with engines[0].begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE deliveries, subscriptions, chats, stories, sources "
                    "RESTART IDENTITY CASCADE"
                )
            )
        for n in range(200):
            await one.add_source(f"https://e{n}.example/feed", now=NOW)
        lease = NOW + timedelta(minutes=10)
        claimed: list[list[int]] = [[], []]

        async def poller(store: SqlStorage, index: int) -> None:
            while batch := await store.claim_due_sources(NOW, lease_until=lease, limit=7):
                claimed[index].extend(source.id for source in batch)
                await asyncio.sleep(0)

        await asyncio.gather(poller(one, 0), poller(two, 1))
        assert claimed[0] and claimed[1], "both pollers took a share"
        assert not set(claimed[0]) & set(claimed[1])
        assert sorted(claimed[0] + claimed[1]) == list(range(1, 201))
    finally:
        await one.close()
        await two.close()
