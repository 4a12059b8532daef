"""Adaptive polling against fixed-interval polling, simulated on a virtual clock (no waiting).

A mix of busy, ordinary and quiet feeds publishes at random (Poisson) times. The adaptive
schedule is Newsbot's own (`news.polling.schedule`, with the decisions `news.polling.decide`
makes); the fixed schedule polls every feed every T, with T chosen so that both make the same total
number of requests. Printed: median and p95 delay from publication to detection, requests per feed
per hour, and the target: adaptive median at most half of fixed-interval's at equal request budget.
"""

from __future__ import annotations

import bisect
import random
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from news.polling import (
    ScheduleSettings,
    jittered,
    next_interval,
    publication_rate,
    target_interval,
)

FEEDS = 300
DAYS = 3
HISTORY = timedelta(days=7)
FEED_LENGTH = 50
START = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = ScheduleSettings(floor=timedelta(minutes=5), ceiling=timedelta(hours=1))
# (share of feeds, lowest and highest stories per hour)
MIX = ((0.15, 4.0, 30.0), (0.35, 0.3, 3.0), (0.5, 0.01, 0.3))


def publications(rng: random.Random) -> list[list[datetime]]:
    feeds = []
    end = START + timedelta(days=DAYS)
    for share, low, high in MIX:
        for _ in range(int(FEEDS * share)):
            per_hour = rng.uniform(low, high)
            moment, times = START - HISTORY, []
            while moment < end:
                moment += timedelta(hours=rng.expovariate(per_hour))
                times.append(moment)
            feeds.append(times)
    return feeds


def delays_after(times: list[datetime], polls: list[datetime]) -> list[float]:
    """Seconds from each publication in the run to the first poll at or after it."""
    delays = []
    for moment in times:
        if moment < START or moment >= polls[-1]:
            continue
        index = bisect.bisect_left(polls, moment)
        delays.append((polls[index] - moment).total_seconds())
    return delays


def adaptive(times: list[datetime], rng: random.Random) -> list[datetime]:
    end = START + timedelta(days=DAYS)
    now = START + timedelta(seconds=rng.uniform(0, SETTINGS.floor.total_seconds()))
    polls: list[datetime] = []
    previous: timedelta | None = None
    target: timedelta | None = None
    seen = 0
    while now < end:
        polls.append(now)
        visible = bisect.bisect_right(times, now)
        if visible != seen or target is None:  # a changed feed is parsed; else a 304
            entries = times[max(visible - FEED_LENGTH, 0) : visible]
            target = target_interval(publication_rate(entries, now), [], SETTINGS)
            seen = visible
        previous = next_interval(previous, target, SETTINGS)
        now += jittered(previous, SETTINGS, rng)
    polls.append(now)
    return polls


def fixed(interval: timedelta, rng: random.Random) -> list[datetime]:
    end = START + timedelta(days=DAYS)
    now = START + interval * rng.random()
    polls = []
    while now < end + interval:
        polls.append(now)
        now += interval
    return polls


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def main() -> None:
    rng = random.Random(20250214)
    feeds = publications(rng)
    adaptive_polls = [adaptive(times, rng) for times in feeds]
    requests = sum(
        sum(1 for poll in polls if poll < START + timedelta(days=DAYS)) for polls in adaptive_polls
    )
    hours = DAYS * 24
    interval = timedelta(hours=hours * len(feeds) / requests)
    fixed_polls = [fixed(interval, rng) for _ in feeds]
    adaptive_delays = [
        d
        for times, polls in zip(feeds, adaptive_polls, strict=True)
        for d in delays_after(times, polls)
    ]
    fixed_delays = [
        d
        for times, polls in zip(feeds, fixed_polls, strict=True)
        for d in delays_after(times, polls)
    ]
    fixed_requests = sum(
        sum(1 for poll in polls if poll < START + timedelta(days=DAYS)) for polls in fixed_polls
    )
    a_median, f_median = statistics.median(adaptive_delays), statistics.median(fixed_delays)
    print(f"{len(feeds)} feeds over {DAYS} simulated days, {len(adaptive_delays)} stories")
    print(f"{'schedule':<10} {'median delay':>13} {'p95 delay':>11} {'req/feed/h':>11}")
    for name, delays, count in (
        ("adaptive", adaptive_delays, requests),
        (f"fixed {interval.total_seconds() / 60:.1f}m", fixed_delays, fixed_requests),
    ):
        median, p95 = statistics.median(delays) / 60, percentile(delays, 0.95) / 60
        print(f"{name:<10} {median:>11.1f} m {p95:>9.1f} m {count / len(feeds) / hours:>11.2f}")
    ratio = a_median / f_median
    verdict = "OK" if ratio <= 0.5 else "MISSED"
    print(f"median delay ratio adaptive/fixed: {ratio:.2f} (target ≤ 0.50) {verdict}")


if __name__ == "__main__":
    main()
