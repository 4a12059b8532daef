"""Telegram's flood limits for the fake Bot API, as strict sliding windows.

Telegram documents (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this)
about 30 messages per second overall, at most one message per second to one chat and at most 20
messages per minute to one group, and answers a request over a limit with
`429 Too Many Requests: retry after N`. The real server tolerates short bursts; this fake does
not: it counts the requests it admitted in a window that slides with the (injectable) clock and
refuses one that would put more than the limit into any window.

A limit "R per P seconds" becomes a window of `C = max(1, floor(R))` requests per `P * C / R`
seconds: 30/s is 30 requests in any 1.0 s, 1/s one request in any 1.0 s, 20/min 20 requests in
any 60 s; a rate below one per period widens the window instead (0.5/s: one request in any
2.0 s). A request at time `t` sees the earlier admitted requests at `t0` with `t - t0 < span`;
one admitted exactly `span` seconds earlier has left the window. The only tolerance is for
float rounding (1e-9 in `floor(R)` and in rounding `retry_after` up), none for bursts.

Which requests count: the sends the limits admitted, whatever their outcome afterwards (a
400 for invalid HTML counts, as Telegram did the work); refused sends (429) do not.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimits:
    """The limits `FakeBotApi.enforce_limits` applies (Telegram's documented defaults)."""

    global_per_second: float = 30
    private_per_second: float = 1
    group_per_minute: float = 20


@dataclass(frozen=True)
class Window:
    """At most `capacity` admitted requests in any `span` seconds."""

    capacity: int
    span: float

    @classmethod
    def for_rate(cls, rate: float, period: float) -> Window:
        """The window for `rate` requests per `period` seconds (see the module docstring)."""
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"a rate limit must be a positive finite number, not {rate!r}")
        capacity = max(1, math.floor(rate + 1e-9))
        return cls(capacity, period * capacity / rate)


def is_private_chat(chat: int | str) -> bool:
    """Private chats have the user's (positive) id; groups, supergroups, channels do not."""
    return isinstance(chat, int) and chat > 0


class RateLimiter:
    """Sliding-window admission for sends: one window overall and one per chat.

    Every window is a deque of admission times, trimmed from the left as time passes, so a
    check costs O(1) amortised whatever the number of chats or requests so far.
    """

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.overall = Window.for_rate(limits.global_per_second, 1.0)
        self.private = Window.for_rate(limits.private_per_second, 1.0)
        self.group = Window.for_rate(limits.group_per_minute, 60.0)
        self._overall_times: deque[float] = deque()
        self._chat_times: dict[int | str, deque[float]] = {}

    def admit(self, chat: int | str | None, now: float) -> float:
        """Admit (and count) a send to `chat` at `now` and return 0.0, or refuse it.

        A refused send is not counted; the answer is then the seconds until it would be
        admitted (> 0), the longest wait of the windows it is over.
        """
        wait = _wait(self._overall_times, self.overall, now)
        chat_times: deque[float] | None = None
        if chat is not None:
            chat_times = self._chat_times.get(chat)
            if chat_times is None:
                chat_times = self._chat_times[chat] = deque()
            window = self.private if is_private_chat(chat) else self.group
            wait = max(wait, _wait(chat_times, window, now))
        if wait > 0:
            return wait
        self._overall_times.append(now)
        if chat_times is not None:
            chat_times.append(now)
        return 0.0


def _wait(times: deque[float], window: Window, now: float) -> float:
    """Drop the times that left the window; the seconds until one more fits (0.0: now)."""
    while times and now - times[0] >= window.span:
        times.popleft()
    if len(times) < window.capacity:
        return 0.0
    # Admission keeps len(times) <= capacity, so the oldest time is the one to wait for.
    return max(times[-window.capacity] + window.span - now, 1e-9)


def retry_after_seconds(wait: float) -> int:
    """Telegram's `retry_after`: whole seconds, rounded up (float noise aside), at least 1."""
    return max(1, math.ceil(wait - 1e-9))
