"""When to poll a source next: pure functions of (what the source did, settings, now).

**Adaptive interval.** A feed carries its own history: the publication times of its entries. The
rate `r` (entries per second over the last `RATE_WINDOW`) sets the target interval by the
square-root rule, `sqrt(RATE_CONSTANT / r)`: spreading a fixed number of requests over feeds in
proportion to the square root of their rates minimises the mean delay to detection, so a busy
feed is polled often and a quiet one seldom. The target is bounded below by the feed's own hints
(RSS `ttl`, `sy:updatePeriod`/`sy:updateFrequency`, HTTP `Cache-Control: max-age`), then clamped
to [floor, ceiling] (`NEWSBOT_POLL_INTERVAL`, `NEWSBOT_POLL_CEILING`; `POLL_FLOOR` and
`POLL_CEILING` by default); a hint above the ceiling yields to it, so no feed goes unread for
longer than the ceiling. A new source starts at the floor, and the interval grows at most by
`GROWTH` per poll, so one odd answer cannot send a feed to the ceiling; it shrinks at once when
the feed speeds up. A 304 or an unchanged body shows no publication, so its target is the ceiling
(`news.polling.decide` decides which applies).

**Failures.** A failing source backs off exponentially from the floor, with jitter (a random
point in the upper half of the delay, so failed sources do not come back in step), capped at
`backoff_cap` (`POLL_BACKOFF_CAP` by default). `Retry-After` on 429/503 is honoured as given (at
least the floor, at most `RETRY_AFTER_CAP`). A source that recovers gets its normal schedule back
on the next success.

Numbers from servers are read with `news.feeds.fitting.bounded_int`: plain ASCII digits, clamped; a
`max-age=1e17` or `Retry-After: 1e17` is no number and is ignored.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from news.feeds import bounded_int
from news.policy import POLL_BACKOFF_CAP, POLL_CEILING, POLL_FLOOR, POLL_LEASE

#: Seconds²: a feed publishing once an hour gets a 15-minute target, once a minute about 2 min.
RATE_CONSTANT = 225.0
#: How far back entry dates count towards a feed's rate.
RATE_WINDOW = timedelta(days=7)
#: The most an interval may grow from one poll to the next.
GROWTH = 1.5
#: The longest Retry-After honoured as given.
RETRY_AFTER_CAP = timedelta(days=1)
# A max-age is the whole token: "max-age=1e17" or "max-age=10s" is not a number, and is ignored.
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*(\"?)([^,\"]*)\1\s*(?:,|$)", re.IGNORECASE)
#: The longest hint or Retry-After read as a number of seconds; the schedule caps it anyway.
_MAX_SECONDS = 10 * 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """The bounds of the polling schedule."""

    floor: timedelta = POLL_FLOOR
    ceiling: timedelta = POLL_CEILING
    backoff_cap: timedelta = POLL_BACKOFF_CAP
    jitter: float = 0.1
    #: How long a claimed source stays claimed if its poller dies before recording the outcome.
    lease: timedelta = POLL_LEASE


def publication_rate(published: Iterable[datetime], now: datetime) -> float | None:
    """Entries per second over the last `RATE_WINDOW`, from their dates; None without dates.

    Entries dated exactly `now` carry no date of their own (the parser gave them "first seen")
    and are left out.
    """
    recent = [moment for moment in published if now - RATE_WINDOW <= moment < now]
    if not recent:
        return None
    span = (now - min(recent)).total_seconds()
    return len(recent) / max(span, 60.0)


def max_age(headers: Mapping[str, str]) -> timedelta | None:
    """`Cache-Control: max-age` of a response, if it gives one."""
    for name, value in headers.items():
        if name.lower() == "cache-control":
            found = _MAX_AGE.search(value)
            seconds = bounded_int(found.group(2), maximum=_MAX_SECONDS) if found else None
            if seconds is not None:
                return timedelta(seconds=seconds)
    return None


def target_interval(
    rate: float | None, hints: Iterable[timedelta | None], settings: ScheduleSettings
) -> timedelta:
    """The interval a source should settle at, given its rate and its hints."""
    if rate is None or rate <= 0:
        target = settings.ceiling
    else:
        target = timedelta(seconds=math.sqrt(RATE_CONSTANT / rate))
    for hint in hints:
        if hint is not None:
            target = max(target, hint)
    return _clamp(target, settings)


def next_interval(
    previous: timedelta | None, target: timedelta, settings: ScheduleSettings
) -> timedelta:
    """The next interval: the target, but grown at most `GROWTH`-fold from the previous one."""
    start = previous if previous is not None else settings.floor
    return _clamp(min(target, start * GROWTH), settings)


def jittered(interval: timedelta, settings: ScheduleSettings, rng: random.Random) -> timedelta:
    """`interval` moved by up to ±`jitter` of itself, never below the floor."""
    factor = 1.0 + rng.uniform(-settings.jitter, settings.jitter)
    return max(interval * factor, settings.floor)


def backoff(failures: int, settings: ScheduleSettings, rng: random.Random) -> timedelta:
    """Delay after the `failures`-th failure in a row: doubling from the floor, capped, jittered."""
    exponent = min(max(failures - 1, 0), 32)
    doubled: timedelta = settings.floor * (2**exponent)
    delay = min(doubled, max(settings.backoff_cap, settings.floor))
    return delay * rng.uniform(0.5, 1.0)


def retry_after(value: str | None, now: datetime, settings: ScheduleSettings) -> timedelta | None:
    """The delay a `Retry-After` header asks for (seconds or an HTTP date), bounded."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds = bounded_int(text, maximum=_MAX_SECONDS)
    if seconds is not None:
        delay = timedelta(seconds=seconds)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - now
    return min(max(delay, settings.floor), RETRY_AFTER_CAP)


def _clamp(interval: timedelta, settings: ScheduleSettings) -> timedelta:
    return min(max(interval, settings.floor), max(settings.ceiling, settings.floor))
