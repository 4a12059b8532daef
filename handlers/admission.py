"""Admission before queueing: each update is judged the moment it arrives, before it waits.

`AdmittedUpdates` is python-telegram-bot's update processor (`concurrent_updates(...)`). For
every update it decides at once, with `handlers.pacing.Admission`:

- an update no handler of this bot acts on (a plain message, another bot's `/roll@dicebot`, an
  unknown command in a group) is let go without a database read or a lock; it counts against
  nobody's budget;
- a command, a button press or an inline query goes when its user's and its group's budgets
  of its kind have room, and its chat has fewer than `waiting_per_chat` updates in hand;
  otherwise it is dropped, and the chat (a presser, for buttons) hears "slow down" at most
  once a minute;
- admitted updates of one chat run in the order they came, those of different chats at once;
  an update takes one of the `concurrency` slots only when its chat's turn has come, so a
  chat's backlog never holds slots that other chats' updates need.

Every attempt makes its chat busier; `busy(chat)` tells the gateway whose replies go behind
calm chats' (`handlers.gateway`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor

from handlers.i18n import texts_for
from handlers.pacing import Admission, AdmissionLimits, UpdateKind
from news.errors import N_

logger = logging.getLogger(__name__)

SLOW_DOWN = N_("Slow down, please: that is more commands than I take in a minute. Try again soon.")
# Translators: shown as a button's notice when one person presses buttons too fast.
SLOW_DOWN_PRESSES = N_("Slow down, please: that is more taps than I take in a minute.")
# PTB's own semaphore is taken before a chat's turn; ours (`concurrency`) only at it, so PTB's
# is made too large to ever make an update wait.
_UNBOUNDED = 1 << 30


@dataclass(frozen=True, slots=True)
class Request:
    """What an update asks: its kind, who asks and in which chat (None: an inline query)."""

    kind: UpdateKind
    user: int
    chat: int | None


def command_name(message: Message, bot_username: str | None) -> str | None:
    """The command a message gives this bot (`/latest@newsbot x` → "latest"), lower-cased as
    python-telegram-bot matches it; None when it gives none or names another bot."""
    text = message.text
    entities = message.entities
    if not text or not entities:
        return None
    first = entities[0]
    if first.type != MessageEntity.BOT_COMMAND or first.offset != 0:
        return None
    name, _, addressee = text[1 : first.length].partition("@")
    if addressee and (bot_username is None or addressee.lower() != bot_username.lower()):
        return None
    return name.lower()


def request_of(
    update: Update, known_commands: frozenset[str], bot_username: str | None
) -> Request | None:
    """What `update` asks of this bot, or None when no handler would act on it."""
    if (inline := update.inline_query) is not None:
        return Request("inline", inline.from_user.id, None)
    if (callback := update.callback_query) is not None:
        message = callback.message
        return Request("button", callback.from_user.id, message.chat.id if message else None)
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return None
    name = command_name(message, bot_username)
    # Any command in a private chat gets an answer (an unknown one, a pointer to /help).
    if name is None or (name not in known_commands and chat.type != ChatType.PRIVATE):
        return None
    sender = update.effective_user
    return Request("command", sender.id if sender is not None else chat.id, chat.id)


class AdmittedUpdates(BaseUpdateProcessor):
    """Judges each update as it arrives; runs admitted ones per chat in order (module doc)."""

    def __init__(
        self,
        limits: AdmissionLimits | None = None,
        *,
        concurrency: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(_UNBOUNDED)
        self.admission = Admission(limits)
        self._monotonic = monotonic
        self._running = asyncio.Semaphore(concurrency)
        # A lock per chat with updates in hand, and how many of them hold or await it.
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}
        #: The commands this bot's handlers take (set once they are registered).
        self.known_commands: frozenset[str] = frozenset()
        #: Updates refused, by kind and why ("budget" or "waiting"), for bot.metrics.
        self.refused: Counter[tuple[str, str]] = Counter()

    def busy(self, chat: int | None) -> bool:
        """Whether `chat` asked more than a few times in the last minute."""
        return self.admission.busy(chat, self._monotonic())

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        request = request_of(update, self.known_commands, update.get_bot().username)
        if request is None:
            _discard(coroutine)
            return
        now = self._monotonic()
        chat = request.chat
        waiting = self._chats.get(chat, (None, 0))[1] if chat is not None else 0
        if waiting >= self.admission.limits.waiting_per_chat:
            verdict = self.admission.overflow(request.kind, request.user, chat, now)
            reason = "waiting"
        else:
            verdict = self.admission.judge(request.kind, request.user, chat, now)
            reason = "budget"
        if verdict != "go":
            _discard(coroutine)
            self.refused[request.kind, reason] += 1
            if verdict == "warn":
                await _slow_down(update, request)
            return
        if chat is None:
            async with self._running:
                await coroutine
            return
        lock, users = self._chats.get(chat) or (asyncio.Lock(), 0)
        self._chats[chat] = (lock, users + 1)
        try:
            async with lock, self._running:
                await coroutine
        finally:
            lock, users = self._chats[chat]
            if users == 1:
                del self._chats[chat]
            else:
                self._chats[chat] = (lock, users - 1)

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""


def _discard(coroutine: Awaitable[Any]) -> None:
    """Let an update's processing go unrun (without "coroutine was never awaited")."""
    if inspect.iscoroutine(coroutine):
        coroutine.close()


async def _slow_down(update: Update, request: Request) -> None:
    """The one "slow down" of the minute: a message in the chat, or a button's toast."""
    user = update.effective_user
    texts = texts_for(user.language_code if user is not None else None)
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts._(SLOW_DOWN_PRESSES))
        elif (message := update.effective_message) is not None:
            await message.reply_text(texts._(SLOW_DOWN), do_quote=False)
    except TelegramError as error:
        logger.warning("could not ask chat %s to slow down: %s", request.chat, error)
