"""Pacing under Telegram's limits: when may the next request to a chat leave?

Telegram allows about 30 messages per second overall, about one per second to a private chat and
20 per minute to a group; past that it answers 429 with `retry_after`. `SendPacer` hands out send
times so that none of these is exceeded, and takes a 429's `retry_after` into account for the
chat it covers (or for every chat, when the 429 named none). `CommandBudget` decides how many
commands one user may give per minute. Both are pure bookkeeping over a time axis given by the
caller (seconds as floats), so tests drive them with a virtual clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's sending limits, with our own global rate below its ~30/s."""

    global_per_second: float = 25.0
    # A tenth of a second of margin on the per-chat limits: a request's arrival at Telegram
    # jitters by a few milliseconds, and a 429 costs far more than the margin.
    private_interval: float = 1.1
    group_per_minute: int = 20
    group_window: float = 61.0


class SendPacer:
    """Hands out send times that respect the global, per-chat and per-group limits.

    A `chat_id` of None is a request to no chat (a callback answer, `setMyCommands`): only the
    global rate applies to it.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._global_gap = 1.0 / limits.global_per_second
        self._next_global = 0.0
        self._next_private: dict[int, float] = {}
        self._group_sends: dict[int, deque[float]] = {}
        self._blocked_until: dict[int | None, float] = {}

    def global_ready(self, now: float) -> float:
        """The earliest time the global rate (and a 429 that named no chat) allows a request."""
        return max(now, self._next_global, self._blocked_until.get(None, 0.0))

    def chat_ready(self, chat_id: int | None, now: float) -> float:
        """The earliest time the per-chat limits and any 429 allow a message to `chat_id`."""
        ready = max(now, self._blocked_until.get(chat_id, 0.0))
        if chat_id is None:
            return ready
        if chat_id > 0:
            return max(ready, self._next_private.get(chat_id, 0.0))
        sends = self._group_sends.get(chat_id)
        if sends and len(sends) >= self.limits.group_per_minute:
            ready = max(ready, sends[-self.limits.group_per_minute] + self.limits.group_window)
        return ready

    def reserve(self, chat_id: int | None, now: float, *, late: float = 0.0) -> float:
        """Book one request to `chat_id` at the earliest allowed time from `now` and return it.

        Callers that wait for a chat should first wait for `chat_ready`, so that a chat held
        back for long does not book a far global slot ahead of chats that could go now. A
        caller whose timer woke up to `late` seconds after its global slot may book that slot
        (the overall rate then holds on average, as a short burst); the chat's own limits
        always count from the time the request actually leaves.
        """
        start = max(self.chat_ready(chat_id, now), self.global_ready(now))
        self._next_global = max(start - late, self._next_global) + self._global_gap
        if chat_id is None:
            return start
        if chat_id > 0:
            self._next_private[chat_id] = start + self.limits.private_interval
        else:
            sends = self._group_sends.setdefault(chat_id, deque())
            sends.append(start)
            while len(sends) > self.limits.group_per_minute:
                sends.popleft()
        return start

    def retry_after(self, chat_id: int | None, now: float, seconds: float) -> None:
        """Telegram said to wait `seconds` before writing to `chat_id` (None: to anyone)."""
        self._blocked_until[chat_id] = max(self._blocked_until.get(chat_id, 0.0), now + seconds)

    def forget_idle(self, now: float) -> None:
        """Drop the bookkeeping of chats that have been idle long enough not to matter."""
        horizon = now - self.limits.group_window
        self._next_private = {c: t for c, t in self._next_private.items() if t > now}
        self._blocked_until = {c: t for c, t in self._blocked_until.items() if t > now}
        self._group_sends = {
            c: sends for c, sends in self._group_sends.items() if sends and sends[-1] > horizon
        }


Verdict = Literal["go", "warn", "drop"]


@dataclass(frozen=True, slots=True)
class CommandLimits:
    """How many commands one user may give in a window, before being asked to slow down.

    Twenty a minute is more than a person types, and keeps one user from spending a group's
    twenty messages a minute (or the bot's CPU) alone.
    """

    per_window: int = 20
    window: float = 60.0
    # The "slow down" answer itself is a message: at most one per window.
    warn_every: float = 60.0


class CommandBudget:
    """Per-user sliding window of commands: "go", "warn" (answer "slow down") or "drop"."""

    def __init__(self, limits: CommandLimits) -> None:
        self.limits = limits
        self._commands: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}
        self._swept = 0.0

    def check(self, user_id: int, now: float) -> Verdict:
        """Count one command of `user_id` at `now`, unless over the limit."""
        if now - self._swept >= self.limits.window:  # at most one sweep a window
            self._forget_idle(now)
            self._swept = now
        times = self._commands.setdefault(user_id, deque())
        while times and now - times[0] >= self.limits.window:
            times.popleft()
        if len(times) < self.limits.per_window:
            times.append(now)
            return "go"
        last = self._warned.get(user_id)
        if last is None or now - last >= self.limits.warn_every:
            self._warned[user_id] = now
            return "warn"
        return "drop"

    def _forget_idle(self, now: float) -> None:
        """Drop users whose last command has left the window."""
        horizon = now - max(self.limits.window, self.limits.warn_every)
        self._commands = {u: t for u, t in self._commands.items() if t and t[-1] > horizon}
        self._warned = {u: t for u, t in self._warned.items() if t > horizon}
