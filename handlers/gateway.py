"""One gateway for every Bot API call: paced under Telegram's limits, replies first, 429s waited.

`Gateway` is python-telegram-bot's rate-limiter hook (`BaseRateLimiter`), set on the
application's bot with `Application.builder().rate_limiter(...)`; every request the bot makes
except `getUpdates` passes through it: command replies, callback answers, pushes, edits,
digests, `setMyCommands`, `getMe`. It keeps one `news.pacing.SendPacer` (the overall
`NEWSBOT_SEND_RATE`, ~1/s per private chat, 20/min per group) and hands out its slots in order
of priority, so a person's reply never waits behind a fan-out:

    Priority.REPLY   (the default)  answers to people: commands, callback answers
    Priority.PUSH    (`rate_limit_args=Priority.PUSH`)  the sender's pushes, edits and digests

A 429 holds back the chat it covers (or everything, when it names no chat) for `retry_after`.
A reply then waits and is sent again, as often as Telegram asks: no reply is lost to a 429. A
push is handed back to the sender instead, which puts its outbox row back for after the wait
(a durable retry, rather than a request waiting in memory while holding its claim). Both are
one log line, never a traceback.

The calls that start the bot (`getMe`, `deleteWebhook`, `setMyCommands`) are retried while the
Bot API is unreachable or answers 5xx, with capped exponential backoff and one log line per
attempt: a bot started during an outage comes up when it ends.

`PerChatUpdates` lets updates of different chats be handled concurrently while those of one chat
stay in order (a user's /start is answered before their /subscribe). `command_limit_handler`
stops one user's flood of commands before any command runs: past the limit, one short "slow
down" a minute, then silence until the window has room again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from enum import IntEnum
from typing import Any

from telegram import Update
from telegram._utils.types import JSONDict
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import (
    ApplicationHandlerStop,
    BaseRateLimiter,
    BaseUpdateProcessor,
    ContextTypes,
    MessageHandler,
    filters,
)

from handlers.i18n import texts_for
from news.errors import N_
from news.pacing import CommandBudget, CommandLimits, Limits, SendPacer

logger = logging.getLogger(__name__)

# Calls without which the bot cannot start: worth waiting for however long the outage lasts.
SLOW_DOWN = N_("Slow down, please: that is more commands than I take in a minute. Try again soon.")
BOOTSTRAP_CALLS = frozenset({"getMe", "deleteWebhook", "setMyCommands", "getWebhookInfo"})
# How far the dispatcher may book global slots in the past when it wakes late, so that timer
# lateness does not lower the rate: a burst of at most this many seconds' worth of slots
# (the per-chat limits count from the actual send).
CATCH_UP = 0.05
FIRST_RETRY = 1.0
MAX_RETRY = 60.0


class Priority(IntEnum):
    """Who waits for a request: a person (first) or the outbox (after)."""

    REPLY = 0
    PUSH = 1


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


_Waiter = tuple[int | None, "asyncio.Future[bool]"]


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
        self._queues: tuple[deque[_Waiter], ...] = tuple(deque() for _ in Priority)
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        #: 429 answers seen, replies and pushes alike (exported by bot.metrics).
        self.retry_afters = 0

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
        delay = FIRST_RETRY
        while True:
            await self._slot(chat, priority)
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

    async def _slot(self, chat: int | None, priority: Priority) -> None:
        """Wait until the chat may be written to, then for a global slot in priority order."""
        loop = asyncio.get_running_loop()
        while True:
            now = self._monotonic()
            if (wait := self.pacer.chat_ready(chat, now) - now) > 0:
                await self._sleep(wait)
                continue
            granted: asyncio.Future[bool] = loop.create_future()
            self._queues[priority].append((chat, granted))
            if self._dispatcher is None or self._dispatcher.done():
                self._dispatcher = asyncio.create_task(self._dispatch())
            self._wake.set()
            if await granted:
                return

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
            queue = next(queue for queue in self._queues if queue)
            chat, granted = queue.popleft()
            if granted.done():  # its caller was cancelled
                continue
            if self.pacer.chat_ready(chat, now) > now:
                granted.set_result(False)
                continue
            self.pacer.reserve(chat, now, late=CATCH_UP)
            granted.set_result(True)


class PerChatUpdates(BaseUpdateProcessor):
    """Updates of different chats concurrently, those of one chat in the order they came."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # A lock per chat with updates in hand, and how many of them hold or await it.
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock, users = self._chats.get(chat.id) or (asyncio.Lock(), 0)
        self._chats[chat.id] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._chats[chat.id]
            if users == 1:
                del self._chats[chat.id]
            else:
                self._chats[chat.id] = (lock, users - 1)

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""


def command_limit_handler(
    limits: CommandLimits, *, monotonic: Callable[[], float] = time.monotonic
) -> MessageHandler[ContextTypes.DEFAULT_TYPE, None]:
    """A handler for a group before the commands' (group -1): a user over `limits` gets
    one "slow down" a window and their command goes no further."""
    budget = CommandBudget(limits)

    async def check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        message = update.effective_message
        if user is None or message is None:
            return
        now = monotonic()
        verdict = budget.check(user.id, now)
        if verdict == "go":
            return
        if verdict == "warn":
            await message.reply_text(texts_for(user.language_code)._(SLOW_DOWN), do_quote=False)
        raise ApplicationHandlerStop

    return MessageHandler(filters.COMMAND, check)
