"""Pacing under Telegram's limits: when may the next request to a chat leave?

Telegram allows about 30 messages per second overall, about one per second to a private chat and
20 per minute to a group; past that it answers 429 with `retry_after`. `SendPacer` hands out send
times so that none of these is exceeded, and takes a 429's `retry_after` into account for the
chat it covers (or for every chat, when the 429 named none). `Admission` decides, as each update
arrives, whether the bot takes it: per user and per group budgets for commands, button presses
and inline queries (`AdmissionLimits`), and which chats are busy. Both are pure bookkeeping over
a time axis given by the caller (seconds as floats), so tests drive them with a virtual clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from news.policy import SEND_RATE


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's sending limits, with our own global rate below its ~30/s."""

    global_per_second: float = SEND_RATE
    # A tenth of a second of margin on the per-chat limits: a request's arrival at Telegram
    # jitters by a few milliseconds, and a 429 costs far more than the margin.
    private_interval: float = 1.1
    group_per_minute: int = 20
    group_window: float = 61.0
    # Replies go first, but while pushes wait every `push_every`-th slot is a push's: a flood
    # of replies slows pushes to a quarter of the rate, never stops them.
    push_every: int = 4
    # A reply that could not leave within this is dropped: an answer ten minutes late is noise.
    reply_deadline: float = 60.0


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
#: What an update asks of the bot: a command's reply, a button's answer, inline results.
UpdateKind = Literal["command", "button", "inline"]


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `count` in any `window` seconds."""

    count: int
    window: float = 60.0


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """What one user and one group may ask of the bot, judged as each update arrives.

    A group gets 20 messages a minute from Telegram, pushes included, so one member's budget
    is well below it and a group's budgets for commands and buttons, with the one "slow down",
    add up to it: no flood spends more than a group's minute. An inline answer goes to no chat
    and costs only a global slot, so it has a user budget alone. In a private chat the user's
    budget is the chat's.
    """

    user_commands: Budget = Budget(10)
    group_commands: Budget = Budget(12)
    user_buttons: Budget = Budget(12)
    group_buttons: Budget = Budget(7)
    user_inline: Budget = Budget(20)
    # Updates one chat may have admitted and not yet answered; more are dropped on arrival,
    # so a burst never piles up behind its chat's turn. Above one member's command budget, so
    # a flooder's admitted commands leave room for the other members'.
    waiting_per_chat: int = 12
    # The "slow down" answer is itself a message: at most one per chat (or presser) a minute.
    warn_every: float = 60.0
    # A chat that asked more than this in a minute (counting what was refused) is busy: its
    # replies go after those of calm chats (`handlers.gateway`).
    busy_after: int = 5
    busy_window: float = 60.0

    def user_budget(self, kind: UpdateKind) -> Budget:
        return {"command": self.user_commands, "button": self.user_buttons}.get(
            kind, self.user_inline
        )

    def group_budget(self, kind: UpdateKind) -> Budget | None:
        return {"command": self.group_commands, "button": self.group_buttons}.get(kind)


class SlidingCounts:
    """Events per key (a user, a chat) in a sliding window; each key keeps at most `count`
    times, so a flood of a million costs as little memory as a burst of `count`."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._times: dict[object, deque[float]] = {}
        self._swept = 0.0

    def room(self, key: object, now: float) -> bool:
        """Whether one more event of `key` fits in the window at `now`."""
        times = self._times.get(key)
        if times is None:
            return True
        while times and now - times[0] >= self.budget.window:
            times.popleft()
        return len(times) < self.budget.count

    def add(self, key: object, now: float) -> None:
        """Count one event of `key` at `now` (the oldest drops out past `count`)."""
        if now - self._swept >= self.budget.window:  # at most one sweep a window
            horizon = now - self.budget.window
            self._times = {k: t for k, t in self._times.items() if t and t[-1] > horizon}
            self._swept = now
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.budget.count)
        times.append(now)


class Once:
    """At most one event per key in `every` seconds (one "slow down" a minute)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._last: dict[object, float] = {}
        self._swept = 0.0

    def due(self, key: object, now: float) -> bool:
        """True (and counted) when `key` had none in the last `every` seconds."""
        if now - self._swept >= self.every:
            self._last = {k: t for k, t in self._last.items() if now - t < self.every}
            self._swept = now
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            return False
        self._last[key] = now
        return True


class Admission:
    """Judges each update as it arrives: "go", "warn" (answer "slow down") or "drop".

    An update goes when both its user's budget and, in a group or channel, its chat's budget
    of its kind have room; it is counted only then, so a flood's refused part does not keep
    its sender out longer. Refusals are answered at most once per chat a minute (a presser,
    for buttons; never for inline queries, which Telegram lets the user retype). Every
    attempt, refused or not, makes its chat busier (`busy`).
    """

    def __init__(self, limits: AdmissionLimits | None = None) -> None:
        self.limits = limits or AdmissionLimits()
        kinds: tuple[UpdateKind, ...] = ("command", "button", "inline")
        self._users = {kind: SlidingCounts(self.limits.user_budget(kind)) for kind in kinds}
        self._groups = {
            kind: SlidingCounts(budget)
            for kind in kinds
            if (budget := self.limits.group_budget(kind)) is not None
        }
        self._attempts = SlidingCounts(Budget(self.limits.busy_after + 1, self.limits.busy_window))
        self._warned = Once(self.limits.warn_every)

    def judge(self, kind: UpdateKind, user: int, chat: int | None, now: float) -> Verdict:
        """Count one update of `kind` from `user` in `chat` (None: an inline query)."""
        if chat is not None:
            self._attempts.add(chat, now)
        users = self._users[kind]
        groups = self._groups.get(kind) if chat is not None and chat < 0 else None
        if users.room(user, now) and (groups is None or groups.room(chat, now)):
            users.add(user, now)
            if groups is not None:
                groups.add(chat, now)
            return "go"
        return self._refusal(kind, user, chat, now)

    def overflow(self, kind: UpdateKind, user: int, chat: int | None, now: float) -> Verdict:
        """An update refused because its chat has too many waiting: "warn" or "drop"."""
        if chat is not None:
            self._attempts.add(chat, now)
        return self._refusal(kind, user, chat, now)

    def busy(self, chat: int | None, now: float) -> bool:
        """Whether `chat` asked more than `busy_after` times in the last `busy_window`."""
        return chat is not None and not self._attempts.room(chat, now)

    def _refusal(self, kind: UpdateKind, user: int, chat: int | None, now: float) -> Verdict:
        if kind == "inline":
            return "drop"
        key = ("button", user) if kind == "button" else ("chat", chat)
        return "warn" if self._warned.due(key, now) else "drop"
