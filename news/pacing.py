"""Pacing pushes under Telegram's limits: when may the next message to a chat leave?

Telegram allows about 30 messages per second overall, about one per second to a private chat and
20 per minute to a group; past that it answers 429 with `retry_after`. `SendPacer` hands out send
times so that none of these is exceeded, and takes a 429's `retry_after` into account for the
chat it covers. It is pure bookkeeping over a time axis given by the caller (seconds as floats),
so tests drive it with a virtual clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


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
    """Hands out send times that respect the global, per-chat and per-group limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._global_gap = 1.0 / limits.global_per_second
        self._next_global = 0.0
        self._next_private: dict[int, float] = {}
        self._group_sends: dict[int, deque[float]] = {}
        self._blocked_until: dict[int, float] = {}
        self._recent: deque[float] = deque()
        self._actual: dict[int, deque[float]] = {}
        self._per_window = max(1, int(limits.global_per_second))

    def chat_ready(self, chat_id: int, now: float) -> float:
        """The earliest time the per-chat limits and any 429 allow a message to `chat_id`."""
        ready = max(now, self._blocked_until.get(chat_id, 0.0))
        if chat_id > 0:
            return max(ready, self._next_private.get(chat_id, 0.0))
        sends = self._group_sends.get(chat_id)
        if sends and len(sends) >= self.limits.group_per_minute:
            ready = max(ready, sends[-self.limits.group_per_minute] + self.limits.group_window)
        return ready

    def reserve(self, chat_id: int, now: float) -> float:
        """Book one message to `chat_id` at the earliest allowed time from `now` and return it.

        Callers that wait for a chat should first wait for `chat_ready`, so that a chat held
        back for long does not book a far global slot ahead of chats that could go now.
        """
        start = max(self.chat_ready(chat_id, now), self._next_global)
        self._next_global = start + self._global_gap
        if chat_id > 0:
            self._next_private[chat_id] = start + self.limits.private_interval
        else:
            sends = self._group_sends.setdefault(chat_id, deque())
            sends.append(start)
            while len(sends) > self.limits.group_per_minute:
                sends.popleft()
        return start

    def admit(self, chat_id: int, now: float) -> float:
        """Check at the moment of sending: 0 and the send is counted, or seconds to wait.

        Booked times are spread evenly, but an event loop that falls behind wakes several
        senders at once, and a message that left late brings the next one to its chat closer.
        So the limits are checked again against actual send times: a sliding one-second window
        overall, and the chat's own last sends.
        """
        recent = self._recent
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= self._per_window:
            return recent[0] + 1.0 - now
        sent = self._actual.get(chat_id)
        if chat_id > 0:
            if sent and now < sent[-1] + self.limits.private_interval:
                return sent[-1] + self.limits.private_interval - now
        elif sent and len(sent) >= self.limits.group_per_minute:
            earliest = sent[-self.limits.group_per_minute] + self.limits.group_window
            if now < earliest:
                return earliest - now
        recent.append(now)
        if sent is None:
            sent = self._actual[chat_id] = deque(maxlen=self.limits.group_per_minute)
        sent.append(now)
        return 0.0

    def retry_after(self, chat_id: int, now: float, seconds: float) -> None:
        """Telegram said to wait `seconds` before writing to `chat_id` again."""
        self._blocked_until[chat_id] = max(self._blocked_until.get(chat_id, 0.0), now + seconds)

    def forget_idle(self, now: float) -> None:
        """Drop the bookkeeping of chats that have been idle long enough not to matter."""
        horizon = now - self.limits.group_window
        self._next_private = {c: t for c, t in self._next_private.items() if t > now}
        self._blocked_until = {c: t for c, t in self._blocked_until.items() if t > now}
        self._group_sends = {
            c: sends for c, sends in self._group_sends.items() if sends and sends[-1] > horizon
        }
        self._actual = {c: sent for c, sent in self._actual.items() if sent and sent[-1] > horizon}
