"""Quiet hours: when a chat wants no pushes, and when they end.

Quiet hours are two times of day in the chat's time zone, as minutes after midnight; from
`start` until `end`, which may be the next day (23:00–07:00). Pushes due then are held and go
out as one digest when they end (see `news.delivery.decide`). Pure functions of (settings, now).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTES_A_DAY = 24 * 60
# "23:00-07:00", "23-7", "23:00 – 07:00"; decimal digits of any script are read as numbers.
_RANGE = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*[-–—]\s*(\d{1,2})(?::(\d{2}))?\s*$")


def clock_text(minutes: int) -> str:
    """600 → "10:00"."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """ "23:00-07:00" → (1380, 420); None when it is not two different times of day."""
    match = _RANGE.match(text)
    if match is None:
        return None
    bounds = []
    for hour_text, minute_text in ((match[1], match[2]), (match[3], match[4])):
        hour, minute = int(hour_text), int(minute_text or 0)
        if hour > 23 or minute > 59:
            return None
        bounds.append(hour * 60 + minute)
    start, end = bounds
    return None if start == end else (start, end)


def quiet_until(
    start: int | None, end: int | None, timezone: str | None, now: datetime
) -> datetime | None:
    """When the quiet hours `now` falls in end, in UTC; None when `now` is not in them."""
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(timezone or "UTC")
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if start < end:
        quiet, day = start <= minute < end, local.date()
    elif minute >= start:
        quiet, day = True, local.date() + timedelta(days=1)
    else:
        quiet, day = minute < end, local.date()
    if not quiet:
        return None
    ends = datetime.combine(day, time(end // 60, end % 60), tzinfo=zone)
    return ends.astimezone(UTC)
