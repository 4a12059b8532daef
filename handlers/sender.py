"""Pushing the outbox to Telegram: paced under its limits, crash-safe, never twice on purpose.

Rows are claimed from the outbox (a lease), grouped by chat and sent concurrently, each send
waiting for its slot from `news.pacing.SendPacer` (global rate, one per second to a private
chat, 20 per minute to a group). Telegram's answers decide what happens to a row:

    sent                    → "sent", with the message id
    429 retry_after         → pending again after retry_after; the chat is held back that long
    403 blocked / kicked    → the chat becomes inactive and its pending rows are dropped
    400 migrate_to_chat_id  → subscriptions and pending rows move to the new supergroup id
    400 entities            → sent again as plain text
    other 400               → failed for good
    network error / 5xx     → retried with exponential backoff, failed after MAX_ATTEMPTS

More than DIGEST_THRESHOLD stories due for one chat at once go out as one digest message.

A card names the other outlets of its event ("Also: BBC, DW +3") and carries a "More" button.
When its event gains an outlet later, the card is edited, not sent again (`edit_cards`): under
the same pacing, at most once a minute per message and never after 48 hours (storage decides
which cards are due, see `storage.clusters`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import unescape

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from handlers.common import more_button
from handlers.render import digest_messages, story_card
from news.model import Delivery, PushedMessage
from news.pacing import Limits, SendPacer
from news.ports import Storage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
DIGEST_THRESHOLD = 3
STALE_AFTER = timedelta(hours=24)
MAX_BACKOFF = timedelta(minutes=10)
EDIT_RETRY = timedelta(minutes=1)
DEFAULT_LEASE = timedelta(seconds=60)
_TAG = re.compile(r"<[^>]+>")


@dataclass(slots=True)
class SendReport:
    """What one round of sending did, in messages and rows."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    digests: int = 0
    edited: int = 0


@dataclass(frozen=True, slots=True)
class _Outcome:
    message_id: int | None = None
    retry_in: timedelta | None = None
    gone: str | None = None
    migrated_to: int | None = None
    transient: bool = False
    error: str | None = None


class _SentLog:
    """Group commit for sent rows: many senders' "sent" marks land in one transaction.

    A send holds a slot of the sender's unrecorded window until its mark is durable, so at any
    moment at most `unrecorded_window` messages are sent but not yet recorded: the duplicates a
    crash can cause. Requests themselves are fewer (`concurrency`); marks pile up while a commit
    runs and go in the next one.
    """

    def __init__(self, storage: Storage, clock: Callable[[], datetime]) -> None:
        self.storage = storage
        self.clock = clock
        self._waiting: list[
            tuple[list[int], int, tuple[str, ...] | None, asyncio.Future[None]]
        ] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, ids: list[int], message_id: int, shown: tuple[str, ...] | None) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((ids, message_id, shown, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self.storage.mark_sent_many(
                    [
                        (row, message_id, shown)
                        for ids, message_id, shown, _ in batch
                        for row in ids
                    ],
                    now=self.clock(),
                )
            except Exception as error:  # every waiting sender must learn of the failure
                for *_, done in batch:
                    done.set_exception(error)
                continue
            for *_, done in batch:
                done.set_result(None)


def _plain(html_text: str) -> str:
    return unescape(_TAG.sub("", html_text))


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    """Sends the outbox's due rows through a python-telegram-bot `Bot`."""

    def __init__(
        self,
        bot: Bot,
        storage: Storage,
        clock: Callable[[], datetime],
        *,
        limits: Limits | None = None,
        concurrency: int = 8,
        unrecorded_window: int = 64,
        batch: int = 500,
        edit_batch: int = 50,
        lease: timedelta = DEFAULT_LEASE,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self.storage = storage
        self.clock = clock
        self.pacer = SendPacer(limits or Limits())
        self.batch = batch
        self.edit_batch = edit_batch
        self.lease = lease
        self._gate = asyncio.Semaphore(concurrency)
        self._unrecorded = asyncio.Semaphore(unrecorded_window)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._sent_log = _SentLog(storage, clock)

    async def send_pending(self) -> SendReport:
        """Send due rows until none is left; a round already running makes this a no-op."""
        report = SendReport()
        if self._lock.locked():
            return report
        async with self._lock:
            while claimed := await self.storage.claim_deliveries(
                limit=self.batch, now=self.clock(), lease=self.lease
            ):
                by_chat: dict[int, list[Delivery]] = defaultdict(list)
                for delivery in claimed:
                    by_chat[delivery.chat_id].append(delivery)
                await asyncio.gather(
                    *(self._send_chat(chat, rows, report) for chat, rows in by_chat.items())
                )
            await self._edit_cards(report)
            self.pacer.forget_idle(self._monotonic())
        return report

    async def _edit_cards(self, report: SendReport) -> None:
        """Edit some of the pushed cards whose event gained outlets: "Also: BBC, DW +3".

        At most `edit_batch` a round, after the round's pushes: a big event's thousands of
        cards are edited over several rounds, and new stories never wait behind them.
        """
        due = await self.storage.claim_edits(self.clock(), limit=self.edit_batch)
        await asyncio.gather(*(self._edit_card(card, report) for card in due))

    async def _edit_card(self, card: PushedMessage, report: SendReport) -> None:
        now = self.clock()
        if card.also == card.shown:  # another report from an outlet the card already names
            await self.storage.mark_edited(card.delivery_id, shown=card.also, now=now, edited=False)
            return
        text = story_card(card.story, now, topics=card.topics, also=card.also)

        async def edited(_: int) -> None:
            await self.storage.mark_edited(card.delivery_id, shown=card.also, now=self.clock())

        outcome = await self._deliver(
            card.chat_id, text, more_button(card.story.id), edited, message_id=card.message_id
        )
        now = self.clock()
        if outcome.message_id is not None:
            report.edited += 1
        elif outcome.retry_in is not None or outcome.transient:
            await self.storage.retry_edit(
                card.delivery_id, at=now + (outcome.retry_in or EDIT_RETRY)
            )
        elif outcome.gone is not None:
            await self.storage.deactivate_chat(card.chat_id, reason=outcome.gone, now=now)
        else:  # moved, or refused for good ("message to edit not found"): never again
            await self.storage.mark_edited(card.delivery_id, shown=None, now=now)

    async def send_digest(self, chat_id: int) -> SendReport:
        """The chat's daily digest: every story it is owed, in one message where it fits."""
        report = SendReport()
        rows = await self.storage.claim_deliveries(
            limit=1000, now=self.clock(), lease=self.lease, chat_id=chat_id
        )
        if rows:
            await self._send_chat(chat_id, rows, report, digest="Your daily digest")
        return report

    async def _send_chat(
        self,
        chat_id: int,
        rows: Sequence[Delivery],
        report: SendReport,
        *,
        digest: str | None = None,
    ) -> None:
        now = self.clock()
        stale = [row.id for row in rows if now - row.story.published_at > STALE_AFTER]
        if stale:
            await self.storage.mark_failed(stale, error="older than 24 hours", now=now)
            report.failed += len(stale)
        fresh = [row for row in rows if now - row.story.published_at <= STALE_AFTER]
        if not fresh:
            return
        if digest is None and len(fresh) > DIGEST_THRESHOLD:
            digest = f"{len(fresh)} new stories"
        units: list[tuple[str, list[int], tuple[str, ...] | None, Delivery | None]]
        if digest is not None:
            units = [
                (text, [row.id for row in carried], None, None)
                for text, carried in digest_messages(digest, fresh, now)
            ]
            report.digests += len(units)
        else:
            units = [
                (
                    story_card(row.story, now, topics=row.topics, also=row.also),
                    [row.id],
                    row.also,
                    row,
                )
                for row in fresh
            ]
        attempts_of = {row.id: row.attempts for row in fresh}
        for position, (text, ids, shown, card) in enumerate(units):

            async def sent(
                message_id: int, ids: list[int] = ids, shown: tuple[str, ...] | None = shown
            ) -> None:
                await self._sent_log.record(ids, message_id, shown)

            markup = more_button(card.story.id) if card is not None else None
            outcome = await self._deliver(chat_id, text, markup, sent)
            now = self.clock()
            if outcome.message_id is not None:
                report.sent += len(ids)
                continue
            unsent = [i for _, later, _, _ in units[position:] for i in later]
            if outcome.retry_in is not None:
                await self.storage.mark_failed(
                    unsent, error=outcome.error or "retry", now=now, retry_at=now + outcome.retry_in
                )
                report.retried += len(unsent)
                return
            if outcome.gone is not None:
                dropped = await self.storage.deactivate_chat(chat_id, reason=outcome.gone, now=now)
                report.failed += dropped
                return
            if outcome.migrated_to is not None:
                await self.storage.migrate_chat(chat_id, outcome.migrated_to, now=now)
                return
            attempts = max(attempts_of[i] for i in ids)
            if outcome.transient and attempts < MAX_ATTEMPTS:
                backoff = min(timedelta(seconds=2**attempts), MAX_BACKOFF)
                await self.storage.mark_failed(
                    unsent, error=outcome.error or "network", now=now, retry_at=now + backoff
                )
                report.retried += len(unsent)
                return
            await self.storage.mark_failed(ids, error=outcome.error or "refused", now=now)
            report.failed += len(ids)

    async def _deliver(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        on_success: Callable[[int], Awaitable[None]],
        *,
        message_id: int | None = None,
    ) -> _Outcome:
        """Wait for a slot, send one message (or edit `message_id`), record it through
        `on_success` while the slot of the unrecorded window is held; say what Telegram
        answered."""
        ready = self.pacer.chat_ready(chat_id, self._monotonic())
        if (wait := ready - self._monotonic()) > 0:
            await self._sleep(wait)
        start = self.pacer.reserve(chat_id, self._monotonic())
        if (wait := start - self._monotonic()) > 0:
            await self._sleep(wait)
        async with self._unrecorded:
            while (wait := self.pacer.admit(chat_id, self._monotonic())) > 0:
                await self._sleep(wait)
            async with self._gate:
                outcome = await self._attempt(chat_id, text, markup, message_id)
            if outcome.message_id is not None:
                await on_success(outcome.message_id)
            return outcome

    async def _attempt(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        message_id: int | None,
    ) -> _Outcome:
        """One request to Telegram, and what its answer means for the row."""
        try:
            if message_id is not None:
                return _Outcome(message_id=await self._edit(chat_id, message_id, text, markup))
            return _Outcome(message_id=await self._send(chat_id, text, markup))
        except RetryAfter as error:
            seconds = _seconds(error.retry_after)
            self.pacer.retry_after(chat_id, self._monotonic(), seconds)
            logger.warning("Telegram asked to wait %.0f s before writing to %s", seconds, chat_id)
            return _Outcome(retry_in=timedelta(seconds=seconds), error=str(error))
        except Forbidden as error:
            return _Outcome(gone=str(error))
        except ChatMigrated as error:
            return _Outcome(migrated_to=error.new_chat_id)
        except BadRequest as error:
            logger.warning("chat %s refused a message: %s", chat_id, error)
            return _Outcome(error=str(error))
        except NetworkError as error:  # after BadRequest, which is a NetworkError in PTB
            return _Outcome(transient=True, error=str(error))
        except TelegramError as error:
            logger.warning("chat %s refused a message: %s", chat_id, error)
            return _Outcome(error=str(error))

    async def _send(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> int:
        try:
            message = await self.bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=markup,
            )
        except BadRequest as error:
            if "entities" not in str(error).lower():
                raise
            message = await self.bot.send_message(chat_id, _plain(text), reply_markup=markup)
        return message.message_id

    async def _edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> int:
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=markup,
            )
        except BadRequest as error:
            reason = str(error).lower()
            if "not modified" in reason:  # it already reads so: as good as an edit
                return message_id
            if "entities" not in reason:
                raise
            await self.bot.edit_message_text(
                _plain(text), chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        return message_id
