"""Pushing the outbox to Telegram: paced under its limits, crash-safe, never twice on purpose.

Rows are claimed from the outbox (a lease), grouped by chat and sent concurrently through the
bot's one gateway (`handlers.gateway`, at push priority: replies to people go first), which
paces every request under Telegram's limits. Telegram's answers decide what happens to a row:

    sent                    → "sent", with the message id, recorded durably before moving on
    429 retry_after         → pending again after retry_after; the chat is held back that long
    403 blocked / kicked    → the chat becomes inactive and its pending rows are dropped
    400 migrate_to_chat_id  → subscriptions and pending rows move to the new supergroup id
    400 entities            → sent again as plain text
    400 preview refused     → sent again without the link preview (`handlers.previews`)
    400 thread not found,   → the forum topic was deleted or closed: its subscriptions end and
        TOPIC_CLOSED          its pending rows are dropped (one log line); the chat's other
                              topics go on
    other 400               → failed for good
    network error / 5xx     → the Bot API is down: pending again, and the sender pauses (2, 4,
                              8 … up to MAX_BACKOFF s while it stays down), for as long as the
                              story may be pushed at all (`news.policy.PUSH_MAX_AGE`)

Rows for a forum topic (`Delivery.thread_id`) are sent into it (`message_thread_id`); each
forum topic of a chat is a chat of its own here. More than DIGEST_THRESHOLD stories due for one
chat at once go out as one digest message. A
daily digest that meets an outage stays owed and is sent as soon as the Bot API answers again
(`retry_digests`), not a day later.

A chat's settings (/settings) shape its pushes: silent ones carry `disable_notification`, and
rows that fall in its quiet hours are held (pending again from when they end, `news.quiet`) and
then go out together as one digest, however few they are.

Recording a sent message is retried until the database takes it (locked, connection lost, disk
full), while its row stays claimed: a message is sent twice only when the process dies between
sending and recording it.

A card names the other outlets of its event ("Also: BBC, DW +3") and carries a "More" button.
When its event gains an outlet later, the card is edited, not sent again (`edit_cards`): under
the same pacing, at most once a minute per message and never after 48 hours (storage decides
which cards are due, see `storage.outbox`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html import unescape

from telegram import InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot

from handlers.common import more_button
from handlers.gateway import Priority, retry_after_seconds
from handlers.i18n import Texts, texts_for
from handlers.previews import NO_PREVIEW, link_preview, refused_preview
from handlers.render import digest_messages, story_card
from news.batching import GroupCommit, WriteFailed
from news.model import ChatSettings, Delivery, PreviewMode, PushedMessage, SentRow
from news.policy import (
    CLAIM_BATCH,
    DIGEST_GRACE,
    DIGEST_THRESHOLD,
    MAX_BACKOFF,
    PUSH_MAX_AGE,
    RECORD_RETRY_FIRST,
    RECORD_RETRY_MAX,
    SEND_LEASE,
)
from news.ports import Storage
from news.quiet import quiet_until

logger = logging.getLogger(__name__)

RECORD_LOG_EVERY = 60.0
# The most stories one quiet-hours digest carries (as many as a daily digest claims).
QUIET_DIGEST_LIMIT = 1000
OUTAGE_LOG_EVERY = timedelta(minutes=1)
_TAG = re.compile(r"<[^>]+>")
# What Telegram answers for a forum topic that is gone or closed to the bot.
_TOPIC_GONE = ("message thread not found", "topic_closed", "topic_deleted")


@dataclass(frozen=True, slots=True)
class _Placing:
    """Where and how a message goes out: its forum topic (0: the chat itself), its link
    preview, and whether it comes without a notification sound."""

    thread_id: int = 0
    preview: LinkPreviewOptions = NO_PREVIEW
    silent: bool = False


# The part of a claim's lease the sender sends in; the rest covers the request in flight.
LEASE_USE = 0.8

# A sent message to record: its outbox rows, its message id, the outlets its card names.
_SentMark = tuple[list[int], int, tuple[str, ...] | None]


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
    topic_gone: str | None = None
    transient: bool = False
    lapsed: bool = False
    error: str | None = None


def _plain(html_text: str) -> str:
    return unescape(_TAG.sub("", html_text))


def _by_place(rows: Iterable[Delivery]) -> dict[tuple[int, int], list[Delivery]]:
    """Rows by where they go: a chat and its forum topic (0: the chat itself)."""
    places: dict[tuple[int, int], list[Delivery]] = defaultdict(list)
    for row in rows:
        places[(row.chat_id, row.thread_id)].append(row)
    return places


class Sender:
    """Sends the outbox's due rows through the application's bot and its `Gateway`.

    `bot` must have a `handlers.gateway.Gateway` as its rate limiter: that is where requests
    are paced; `unrecorded_window` bounds the messages in flight (sent or waiting for their
    slot) whose rows are not yet recorded as sent; `progress` is told after each batch of a
    round, so a long fan-out shows life (`bot.loops.JobHealth.beat`); `previews` is the link
    preview mode of a chat whose settings are unknown (`handlers.previews`).
    """

    def __init__(
        self,
        bot: ExtBot[Priority],
        storage: Storage,
        clock: Callable[[], datetime],
        *,
        unrecorded_window: int = 64,
        batch: int = CLAIM_BATCH,
        edit_batch: int = 50,
        lease: timedelta = SEND_LEASE,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        progress: Callable[[], None] = lambda: None,
        previews: PreviewMode = "small",
    ) -> None:
        self.bot = bot
        self._previews = previews
        self._progress = progress
        self.storage = storage
        self.clock = clock
        self.batch = batch
        self.edit_batch = edit_batch
        self.lease = lease
        # When the rows of the batch being sent stop being this sender's: past it another
        # sender may claim and send them, so this one sends no more of them.
        self._claim_ends: datetime | None = None
        self._unrecorded = asyncio.Semaphore(unrecorded_window)
        self._lock = asyncio.Lock()
        # Many senders' "sent" marks land in one transaction: marks pile up while a commit runs
        # and go in the next one.
        self._sent_log: GroupCommit[_SentMark, None] = GroupCommit(self._mark_sent, asyncio.Lock())
        self._sleep = sleep
        self._monotonic = monotonic
        # Recording sent messages fails (the database is locked or gone) since this moment.
        self._record_failing_since: float | None = None
        self._record_logged_at = 0.0
        # The Bot API is down (5xx, no connection, timeouts): nothing is sent before this.
        self._down_until: datetime | None = None
        self._down_streak = 0
        self._down_since = self._down_logged = datetime.min.replace(tzinfo=UTC)

    async def _mark_sent(self, marks: list[_SentMark]) -> list[None]:
        await self.storage.mark_sent_many(
            [SentRow(row, message_id, shown) for ids, message_id, shown in marks for row in ids],
            now=self.clock(),
        )
        return [None] * len(marks)

    async def _record_sent(
        self, ids: list[int], message_id: int, shown: tuple[str, ...] | None
    ) -> None:
        """Record a sent message, retrying until the database takes it.

        The message is out: giving up would leave its rows claimed and, after the lease, send
        them again. Whatever the database says (locked, connection lost, disk full), the mark
        waits, and the sender holding its slot of the unrecorded window with it. One log line
        a minute for all of them.
        """
        delay = RECORD_RETRY_FIRST
        while True:
            try:
                await self._sent_log.submit((ids, message_id, shown))
            except WriteFailed as failed:  # any storage failure: see the docstring
                error = failed.__cause__ or failed
                now = self._monotonic()
                if (
                    self._record_failing_since is None
                    or now - self._record_logged_at >= RECORD_LOG_EVERY
                ):
                    logger.warning(
                        "could not record %d sent messages (%s: %s); retrying",
                        len(ids),
                        type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "",
                    )
                    self._record_logged_at = now
                if self._record_failing_since is None:
                    self._record_failing_since = now
                await self._sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX)
                continue
            if self._record_failing_since is not None:
                logger.info(
                    "recorded %d sent messages after %.0f s",
                    len(ids),
                    self._monotonic() - self._record_failing_since,
                )
                self._record_failing_since = None
            return

    def _available(self) -> bool:
        return self._down_until is None or self.clock() >= self._down_until

    def _went_down(self) -> datetime:
        """A transient failure: pause the sender, longer each time in a row; until when."""
        now = self.clock()
        if self._down_until is not None and self._down_until > now:
            return self._down_until  # a request that was in flight when the pause began
        if self._down_streak == 0:
            self._down_since = now
        pause = min(timedelta(seconds=2 ** min(self._down_streak + 1, 16)), MAX_BACKOFF)
        self._down_streak += 1
        self._down_until = now + pause
        if self._down_streak == 1 or now - self._down_logged >= OUTAGE_LOG_EVERY:
            self._down_logged = now
            logger.warning(
                "Bot API unavailable for %.0f s; pushes paused, next try in %.0f s",
                (now - self._down_since).total_seconds(),
                pause.total_seconds(),
            )
        return self._down_until

    def _went_through(self) -> None:
        if self._down_streak:
            logger.info(
                "Bot API answers again after %.0f s; pushes resumed",
                (self.clock() - self._down_since).total_seconds(),
            )
        self._down_streak = 0

    async def send_pending(self) -> SendReport:
        """Send due rows until none is left; a round already running makes this a no-op.

        While the Bot API is down (see `_went_down`) a round sends nothing until the pause is
        over; then it probes with one due row and goes on if it gets through.
        """
        report = SendReport()
        if self._lock.locked() or not self._available():
            return report
        async with self._lock:
            # After an outage one message goes first, alone: a probe, not a fan-out of failures.
            batch = 1 if self._down_streak else self.batch
            while self._available() and (
                claimed := await self.storage.claim_deliveries(
                    limit=batch, now=(claimed_at := self.clock()), lease=self.lease
                )
            ):
                batch = self.batch
                # A margin for the request in flight when the lease ends.
                self._claim_ends = claimed_at + self.lease * LEASE_USE
                places = _by_place(claimed)
                settings = await self._hold_quiet(places)
                await self._send_places(places, settings, report)
                self._progress()
            self._claim_ends = None
            if self._available():
                await self._retry_digests(report)
            if self._available():
                await self._edit_cards(report)
        return report

    async def _retry_digests(self, report: SendReport) -> None:
        """Daily digests that met an outage or a flood wait, sent as soon as they are due."""
        claimed = await self.storage.claim_deliveries(
            limit=self.batch, now=self.clock(), lease=self.lease, digest_retries=True
        )
        places = _by_place(claimed)
        await self._send_places(
            places, await self._settings(chat for chat, _ in places), report, daily=True
        )

    async def _send_places(
        self,
        places: dict[tuple[int, int], list[Delivery]],
        settings: Callable[[int], ChatSettings],
        report: SendReport,
        *,
        daily: bool = False,
    ) -> None:
        """Send each place (a chat and its forum topic) its rows, as its chat's settings say."""
        await asyncio.gather(
            *(
                self._send_chat(
                    chat,
                    rows,
                    report,
                    texts_for(settings(chat).push_language),
                    daily=daily,
                    thread_id=thread,
                    previews=settings(chat).preview,
                    silent=settings(chat).silent,
                )
                for (chat, thread), rows in places.items()
            )
        )

    async def _edit_cards(self, report: SendReport) -> None:
        """Edit some of the pushed cards whose event gained outlets: "Also: BBC, DW +3".

        At most `edit_batch` a round, after the round's pushes: a big event's thousands of
        cards are edited over several rounds, and new stories never wait behind them.
        """
        due = await self.storage.claim_edits(self.clock(), limit=self.edit_batch)
        settings = await self._settings(card.chat_id for card in due)
        await asyncio.gather(
            *(
                self._edit_card(
                    card,
                    report,
                    texts_for(settings(card.chat_id).push_language),
                    settings(card.chat_id).preview,
                )
                for card in due
            )
        )

    async def _edit_card(
        self, card: PushedMessage, report: SendReport, texts: Texts, previews: PreviewMode
    ) -> None:
        now = self.clock()
        if card.also == card.shown:  # another report from an outlet the card already names
            await self.storage.mark_edited(card.delivery_id, shown=card.also, now=now, edited=False)
            return
        text = story_card(card.story, now, texts=texts, topics=card.topics, also=card.also)

        async def edited(_: int) -> None:
            await self.storage.mark_edited(card.delivery_id, shown=card.also, now=self.clock())

        outcome = await self._deliver(
            card.chat_id,
            text,
            more_button(card.story.id, texts),
            edited,
            message_id=card.message_id,
            placing=_Placing(preview=link_preview(card.story, previews)),
        )
        now = self.clock()
        if outcome.message_id is not None:
            report.edited += 1
        elif outcome.retry_in is not None:
            await self.storage.retry_edit(card.delivery_id, at=now + outcome.retry_in)
        elif outcome.transient:
            await self.storage.retry_edit(card.delivery_id, at=max(self._went_down(), now))
        elif outcome.gone is not None:
            await self.storage.deactivate_chat(card.chat_id, reason=outcome.gone, now=now)
        else:  # moved, or refused for good ("message to edit not found"): never again
            await self.storage.mark_edited(card.delivery_id, shown=None, now=now)

    async def send_digest(self, chat_id: int) -> SendReport:
        """The chat's daily digest: every story it is owed, in one message where it fits (one
        per forum topic)."""
        report = SendReport()
        rows = await self.storage.claim_deliveries(
            limit=1000, now=self.clock(), lease=self.lease, chat_id=chat_id
        )
        if rows:
            chat = (await self._settings([chat_id]))(chat_id)
            for (_, thread), owed in _by_place(rows).items():
                await self._send_chat(
                    chat_id,
                    owed,
                    report,
                    texts_for(chat.push_language),
                    daily=True,
                    thread_id=thread,
                    silent=chat.silent,
                )
        return report

    async def _send_chat(
        self,
        chat_id: int,
        rows: Sequence[Delivery],
        report: SendReport,
        texts: Texts,
        *,
        daily: bool = False,
        thread_id: int = 0,
        previews: PreviewMode = "off",
        silent: bool = False,
    ) -> None:
        now = self.clock()
        # Rows held by quiet hours go out together, with whatever else is due for the chat.
        held = any(row.held for row in rows)
        # A daily digest carries the day since the last one; one held back by an outage keeps
        # the stories it would have carried on time; so do quiet hours.
        max_age = PUSH_MAX_AGE + DIGEST_GRACE if daily or held else PUSH_MAX_AGE
        stale = [row.id for row in rows if now - row.story.published_at > max_age]
        if stale:
            await self.storage.mark_failed(stale, error="older than 24 hours", now=now)
            report.failed += len(stale)
        fresh = [row for row in rows if now - row.story.published_at <= max_age]
        if not fresh:
            return
        digest = (
            texts._("Your daily digest")
            if daily
            else texts.ngettext(
                "{count} story from your quiet hours",
                "{count} stories from your quiet hours",
                len(fresh),
            )
            if held
            else texts.ngettext("{count} new story", "{count} new stories", len(fresh))
            if len(fresh) > DIGEST_THRESHOLD
            else None
        )
        units: list[tuple[str, list[int], tuple[str, ...] | None, Delivery | None]]
        if digest is not None:
            units = [
                (text, [row.id for row in carried], None, None)
                for text, carried in digest_messages(digest, fresh, now, texts=texts)
            ]
            report.digests += len(units)
        else:
            units = [
                (
                    story_card(row.story, now, texts=texts, topics=row.topics, also=row.also),
                    [row.id],
                    row.also,
                    row,
                )
                for row in fresh
            ]
        for position, (text, ids, shown, card) in enumerate(units):

            async def sent(
                message_id: int, ids: list[int] = ids, shown: tuple[str, ...] | None = shown
            ) -> None:
                await self._record_sent(ids, message_id, shown)

            markup = more_button(card.story.id, texts) if card is not None else None
            preview = link_preview(card.story, previews) if card is not None else NO_PREVIEW
            placing = _Placing(thread_id, preview, silent)
            outcome = await self._deliver(chat_id, text, markup, sent, placing=placing)
            now = self.clock()
            if outcome.message_id is not None:
                report.sent += len(ids)
                continue
            if outcome.lapsed:
                return
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
            if outcome.topic_gone is not None:
                await self._end_topic(chat_id, thread_id, outcome.topic_gone, report)
                return
            if outcome.transient:
                await self.storage.mark_failed(
                    unsent,
                    error=outcome.error or "network",
                    now=now,
                    retry_at=max(self._went_down(), now),
                )
                report.retried += len(unsent)
                return
            await self.storage.mark_failed(ids, error=outcome.error or "refused", now=now)
            report.failed += len(ids)

    async def _end_topic(
        self, chat_id: int, thread_id: int, error: str, report: SendReport
    ) -> None:
        """A forum topic the bot can no longer post in: its subscriptions end, once."""
        ended = await self.storage.end_thread(chat_id, thread_id, reason=error, now=self.clock())
        report.failed += 1
        logger.info(
            "chat %s: forum topic %s is closed or gone (%s); its %d subscriptions ended",
            chat_id,
            thread_id,
            error,
            ended,
        )

    async def _hold_quiet(
        self, places: dict[tuple[int, int], list[Delivery]]
    ) -> Callable[[int], ChatSettings]:
        """Hold the rows of chats now in their quiet hours until they end, taking them out of
        `places`; each chat's settings.

        A chat whose quiet hours just ended gets the rest of what they held added to its
        rows: a claim is cut at `batch` rows, its digest must not be.
        """
        by_chat: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for place in places:
            by_chat[place[0]].append(place)
        chats = await self.storage.chat_push_settings(list(by_chat))
        now = self.clock()
        for chat_id, chat in chats.items():
            mine = by_chat[chat_id]
            until = quiet_until(chat.quiet_start, chat.quiet_end, chat.timezone, now)
            if until is not None:
                held = [row.id for place in mine for row in places.pop(place)]
                await self.storage.hold_deliveries(held, until=until, now=now)
            elif any(row.held for place in mine for row in places[place]):
                rest = await self.storage.claim_deliveries(
                    limit=QUIET_DIGEST_LIMIT, now=now, lease=self.lease, chat_id=chat_id
                )
                for place, rows in _by_place(rest).items():
                    places.setdefault(place, []).extend(rows)
        return self._settings_of(chats)

    async def _settings(self, chat_ids: Iterable[int]) -> Callable[[int], ChatSettings]:
        """What each of these chats chose in /settings."""
        return self._settings_of(await self.storage.chat_push_settings(list(set(chat_ids))))

    def _settings_of(self, chats: dict[int, ChatSettings]) -> Callable[[int], ChatSettings]:
        # A chat the storage does not know gets the defaults, with the sender's preview mode.
        default = ChatSettings(0, kind="private", preview=self._previews)
        return lambda chat_id: chats.get(chat_id, default)

    async def _deliver(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        on_success: Callable[[int], Awaitable[None]],
        *,
        message_id: int | None = None,
        placing: _Placing = _Placing(),
    ) -> _Outcome:
        """Send one message (or edit `message_id`) when the gateway gives it a slot, record
        it through `on_success` while the slot of the unrecorded window is held; say what
        Telegram answered. Nothing is sent while the Bot API is known to be down."""
        async with self._unrecorded:
            if not self._available():
                return _Outcome(transient=True, error="Bot API unavailable")
            if self._claim_ends is not None and self.clock() >= self._claim_ends:
                # Slower than the lease (a loaded machine, a long flood wait): the rows are
                # left unsent for the next claim, which may be another sender's, rather than
                # sent twice.
                return _Outcome(lapsed=True)
            outcome = await self._attempt(chat_id, text, markup, message_id, placing)
            if outcome.message_id is not None:
                self._went_through()
                await on_success(outcome.message_id)
            return outcome

    async def _attempt(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        message_id: int | None,
        placing: _Placing,
    ) -> _Outcome:
        """One request to Telegram, and what its answer means for the row: a preview Telegram
        refuses (a 400 that creates no message) costs the card its preview, never the push."""

        async def put(placing: _Placing) -> int:
            if message_id is not None:
                return await self._edit(chat_id, message_id, text, markup, placing.preview)
            return await self._send(chat_id, text, markup, placing)

        try:
            try:
                sent = await put(placing)
            except BadRequest as error:
                if not refused_preview(error, placing.preview):
                    raise
                logger.info(
                    "chat %s: the link preview was refused (%s); sent without", chat_id, error
                )
                sent = await put(replace(placing, preview=NO_PREVIEW))
            return _Outcome(message_id=sent)
        except RetryAfter as error:  # the gateway logged it and holds the chat back
            seconds = retry_after_seconds(error)
            return _Outcome(retry_in=timedelta(seconds=seconds), error=str(error))
        except Forbidden as error:
            return _Outcome(gone=str(error))
        except ChatMigrated as error:
            return _Outcome(migrated_to=error.new_chat_id)
        except BadRequest as error:
            if placing.thread_id and any(gone in str(error).lower() for gone in _TOPIC_GONE):
                return _Outcome(topic_gone=str(error))
            logger.warning("chat %s refused a message: %s", chat_id, error)
            return _Outcome(error=str(error))
        except NetworkError as error:  # after BadRequest, which is a NetworkError in PTB
            return _Outcome(transient=True, error=str(error))
        except TelegramError as error:
            logger.warning("chat %s refused a message: %s", chat_id, error)
            return _Outcome(error=str(error))

    async def _send(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        placing: _Placing,
    ) -> int:
        async def send(body: str, parse_mode: str | None) -> int:
            message = await self.bot.send_message(
                chat_id,
                body,
                message_thread_id=placing.thread_id or None,  # 0: the chat itself
                parse_mode=parse_mode,
                link_preview_options=placing.preview,
                reply_markup=markup,
                disable_notification=placing.silent,
                rate_limit_args=Priority.PUSH,
            )
            return message.message_id

        try:
            return await send(text, ParseMode.HTML)
        except BadRequest as error:
            if "entities" not in str(error).lower():
                raise
            return await send(_plain(text), None)

    async def _edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        preview: LinkPreviewOptions,
    ) -> int:
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=preview,
                reply_markup=markup,
                rate_limit_args=Priority.PUSH,
            )
        except BadRequest as error:
            reason = str(error).lower()
            if "not modified" in reason:  # it already reads so: as good as an edit
                return message_id
            if "entities" not in reason:
                raise
            await self.bot.edit_message_text(
                _plain(text),
                chat_id=chat_id,
                message_id=message_id,
                link_preview_options=preview,
                reply_markup=markup,
                rate_limit_args=Priority.PUSH,
            )
        return message_id
