"""One gateway for every Bot API call: paced under Telegram's limits, replies first, 429s waited.

`Gateway` is python-telegram-bot's rate-limiter hook (`BaseRateLimiter`), set on the
application's bot with `Application.builder().rate_limiter(...)`; every request the bot makes
except `getUpdates` passes through it: command replies, callback answers, pushes, edits,
digests, `setMyCommands`, `getMe`. It keeps one `handlers.pacing.SendPacer` (the overall
`NEWSBOT_SEND_RATE`, ~1/s per private chat, 20/min per group) and hands out its slots in order
of priority, so a person's reply never waits behind a fan-out:

    Priority.REPLY   (the default)  answers to people: commands, callback answers, inline results
    Priority.PUSH    (`rate_limit_args=Priority.PUSH`)  the sender's pushes, edits and digests

Within that order two rules keep one flood from delaying everyone: replies to a busy chat (one
that asked more than a few times in the last minute, see `handlers.admission`) wait behind
replies to calm chats, and while pushes wait every fourth slot is a push's, so replies never
stop pushes. A reply that could not leave within a minute is dropped (`ReplyExpired`, one log
line a minute), not sent late.

A 429 holds back the chat it covers (or everything, when it names no chat) for `retry_after`.
A reply then waits and is sent again, as often as Telegram asks within its minute. A push is
handed back to the sender instead, which puts its outbox row back for after the wait (a durable
retry, rather than a request waiting in memory while holding its claim). Both are one log
line, never a traceback.

The calls that start the bot (`getMe`, `deleteWebhook`, `setMyCommands`) are retried while the
Bot API is unreachable or answers 5xx, with capped exponential backoff and one log line per
attempt: a bot started during an outage comes up when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from enum import IntEnum
from typing import Any, NoReturn

from telegram._utils.types import JSONDict
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter

from handlers.pacing import Limits, SendPacer

logger = logging.getLogger(__name__)

# Calls without which the bot cannot start: worth waiting for however long the outage lasts.
BOOTSTRAP_CALLS = frozenset({"getMe", "deleteWebhook", "setMyCommands", "getWebhookInfo"})
# How far the dispatcher may book global slots in the past when it wakes late, so that timer
# lateness does not lower the rate: a burst of at most this many seconds' worth of slots
# (the per-chat limits count from the actual send).
CATCH_UP = 0.05
FIRST_RETRY = 1.0
MAX_RETRY = 60.0
# How often dropped replies are logged (as one line with their count).
EXPIRY_LOG_EVERY = 60.0


class Priority(IntEnum):
    """Who waits for a request: a person (first) or the outbox (after)."""

    REPLY = 0
    PUSH = 1


class ReplyExpired(TelegramError):
    """A reply that found no slot within `Limits.reply_deadline`; it was not sent."""

    def __init__(self) -> None:
        super().__init__("reply dropped: not sent within its deadline")


# The dispatcher's queues, in the order they are served (pushes also by `Limits.push_every`).
_CALM, _BUSY, _PUSHES = range(3)


def retry_after_seconds(error: RetryAfter) -> float:
    """`retry_after` in seconds, whether PTB gives it as a number or a timedelta."""
    value = error.retry_after
    return float(value) if isinstance(value, int | float) else value.total_seconds()


def _chat_of(data: JSONDict) -> int | None:
    """The numeric chat a request writes to, or None (a callback answer, a command list)."""
    chat = data.get("chat_id")
    with contextlib.suppress(TypeError, ValueError):
        return int(chat) if chat is not None else None
    return None


# A request waiting for its global slot: its chat, its grant and its deadline (pushes: none).
_Waiter = tuple[int | None, "asyncio.Future[bool]", float | None]


class Gateway(BaseRateLimiter[Priority]):
    """Every Bot API request waits here for its slot of the one pacer, by priority."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pacer = SendPacer(limits or Limits())
        self._monotonic = monotonic
        self._sleep = sleep
        self._queues: tuple[deque[_Waiter], ...] = (deque(), deque(), deque())
        self._replies_in_a_row = 0
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        #: Whether a chat is busy, so its replies wait behind calm chats' (set by bot.app).
        self.busy: Callable[[int | None], bool] = lambda chat: False
        #: 429 answers seen, replies and pushes alike (exported by bot.metrics).
        self.retry_afters = 0
        #: Replies dropped unsent at their deadline (exported by bot.metrics).
        self.replies_expired = 0
        self._expiries_logged = 0
        self._expiry_logged_at: float | None = None

    async def initialize(self) -> None:
        """Nothing to open: the dispatcher starts with the first request."""

    async def shutdown(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Priority | None,
    ) -> bool | JSONDict | list[JSONDict]:
        priority = Priority.REPLY if rate_limit_args is None else rate_limit_args
        chat = _chat_of(data)
        deadline = None
        if priority is Priority.REPLY and endpoint not in BOOTSTRAP_CALLS:
            deadline = self._monotonic() + self.pacer.limits.reply_deadline
        delay = FIRST_RETRY
        while True:
            await self._slot(chat, priority, deadline)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_after_seconds(error)
                self.retry_afters += 1
                self.pacer.retry_after(chat, self._monotonic(), seconds)
                logger.warning(
                    "Telegram asked to wait %.0f s (%s to chat %s)", seconds, endpoint, chat
                )
                if priority is Priority.PUSH:
                    raise  # the sender reschedules the row; see the module docstring
            except NetworkError as error:
                if isinstance(error, BadRequest) or endpoint not in BOOTSTRAP_CALLS:
                    raise
                logger.warning(
                    "Bot API unreachable (%s: %s) for %s; trying again in %.0f s",
                    type(error).__name__,
                    error,
                    endpoint,
                    delay,
                )
                await self._sleep(delay)
                delay = min(delay * 2, MAX_RETRY)

    async def _slot(self, chat: int | None, priority: Priority, deadline: float | None) -> None:
        """Wait until the chat may be written to, then for a global slot in priority order;
        past `deadline`, give up (`ReplyExpired`)."""
        loop = asyncio.get_running_loop()
        while True:
            now = self._monotonic()
            if deadline is not None and now >= deadline:
                self._expired(now)
            if (wait := self.pacer.chat_ready(chat, now) - now) > 0:
                await self._sleep(wait if deadline is None else min(wait, deadline - now))
                continue
            granted: asyncio.Future[bool] = loop.create_future()
            queue = _PUSHES if priority is Priority.PUSH else _BUSY if self.busy(chat) else _CALM
            self._queues[queue].append((chat, granted, deadline))
            if self._dispatcher is None or self._dispatcher.done():
                self._dispatcher = asyncio.create_task(self._dispatch())
            self._wake.set()
            if await granted:
                return

    def _expired(self, now: float) -> NoReturn:
        """Count a reply dropped at its deadline; log the count at most once a minute."""
        self.replies_expired += 1
        logged_at = self._expiry_logged_at
        if logged_at is None or now - logged_at >= EXPIRY_LOG_EVERY:
            logger.warning(
                "%d replies dropped: no send slot within %.0f s (a flood, or a chat held by 429s)",
                self.replies_expired - self._expiries_logged,
                self.pacer.limits.reply_deadline,
            )
            self._expiries_logged = self.replies_expired
            self._expiry_logged_at = now
        raise ReplyExpired

    def _next_queue(self) -> deque[_Waiter]:
        """Replies first (calm chats' before busy ones'), but every `push_every`-th slot goes to
        a waiting push."""
        calm, busy, pushes = self._queues
        # A chat may have turned busy since its reply queued: it goes behind the calm ones.
        while calm and self.busy(calm[0][0]):
            busy.append(calm.popleft())
        if pushes and (
            not (calm or busy) or self._replies_in_a_row >= self.pacer.limits.push_every - 1
        ):
            self._replies_in_a_row = 0
            return pushes
        self._replies_in_a_row += 1
        return calm or busy

    async def _dispatch(self) -> None:
        """Hand out global slots one at a time, replies before pushes, each queue in order.

        A request whose chat became busy while it queued (another request to the same chat
        took the chat's slot) is sent back to wait for its chat, without using the slot.
        """
        while True:
            if not any(self._queues):
                self.pacer.forget_idle(self._monotonic())
                self._wake.clear()
                await self._wake.wait()
                continue
            now = self._monotonic()
            slot = self.pacer.global_ready(now - CATCH_UP)
            if (wait := slot - now) > 0:
                await self._sleep(wait)
                continue
            chat, granted, deadline = self._next_queue().popleft()
            if granted.done():  # its caller was cancelled
                continue
            if self.pacer.chat_ready(chat, now) > now or (deadline is not None and now >= deadline):
                granted.set_result(False)  # its caller waits again, or gives up
                continue
            self.pacer.reserve(chat, now, late=CATCH_UP)
            granted.set_result(True)
