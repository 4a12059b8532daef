"""Pushing the outbox to Telegram: paced under its limits, crash-safe, never twice on purpose.

Rows are claimed from the outbox (a lease), grouped by place (a chat and its forum topic) and
sent concurrently through the bot's one gateway (`handlers.gateway`, at push priority: replies
to people go first), which paces every request under Telegram's limits. This module is the
Telegram side only: what to do with each claimed row — send it as a card, fold it into a
digest, hold it for quiet hours, drop it as stale — is decided in `news.delivery` (`decide`), as
is whether a message may go now (`gate`: an outage, the claim's lease) and what Telegram's
answer means for its rows (`settle`); `handlers.sending` makes the request and maps
python-telegram-bot's exceptions to those answers. The sender applies the decisions:

    Done                → the rows are recorded as sent, with the message id
    Retry               → pending again from then (a 429's wait, or the end of the pause of
                          an outage: 2, 4, 8 … up to 30 s, then one probe message)
    GiveUp              → failed for good
    chat gone           → the chat becomes inactive and its pending rows are dropped
    ChatMoved           → subscriptions and pending rows move to the new supergroup id
    topic gone          → the forum topic's subscriptions end and its pending rows are dropped
                          (one log line); the chat's other topics go on

A daily digest that meets an outage stays owed and is sent as soon as the Bot API answers again
(`retry_digests`), not a day later. Silent chats' pushes carry `disable_notification`.

Recording a sent message is retried until the database takes it (locked, connection lost, disk
full), while its row stays claimed: a message is sent twice only when the process dies between
sending and recording it.

A card names the other outlets of its event ("Also: BBC, DW +3") and carries a "More" button.
When its event gains an outlet later, the card is edited, not sent again (`edit_cards`): under
the same pacing, at most once a minute per message and never after 48 hours (storage decides
which cards are due, see `storage.outbox` and `news.delivery.events`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram import InlineKeyboardMarkup
from telegram.ext import ExtBot

from handlers.common import more_button
from handlers.gateway import Priority
from handlers.i18n import Texts, texts_for
from handlers.previews import NO_PREVIEW, link_preview
from handlers.render import digest_heading, digest_messages, story_card
from handlers.sending import Placing, attempt
from news import delivery
from news.model import ChatSettings, Delivery, PreviewMode, PushedMessage
from news.policy import CLAIM_BATCH, SEND_LEASE
from news.ports import Deliveries

logger = logging.getLogger(__name__)

OUTAGE_LOG_EVERY = timedelta(minutes=1)
# A message to send: its text, its rows, the outlets its card names, the row of a card.
_Unit = tuple[str, list[int], tuple[str, ...] | None, Delivery | None]


@dataclass(slots=True)
class SendReport:
    """What one round of sending did, in messages and rows."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    digests: int = 0
    edited: int = 0


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
        storage: Deliveries,
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
        # When the rows of the batch being sent stop being this sender's (`lease_ends`).
        self._claim_ends: datetime | None = None
        self._unrecorded = asyncio.Semaphore(unrecorded_window)
        self._lock = asyncio.Lock()
        # Sent messages are recorded whatever the database says (`news.delivery.SentLog`).
        self._sent_log = delivery.SentLog(
            lambda rows: storage.mark_sent_many(rows, now=self.clock()),
            sleep=sleep,
            monotonic=monotonic,
        )
        # The Bot API as the last answers left it (`news.delivery.Outage`); when that was
        # last logged.
        self._outage = delivery.Outage()
        self._outage_logged: datetime | None = None

    def _available(self) -> bool:
        return self._outage.available(self.clock())

    def _settle(self, result: delivery.SendResult) -> delivery.Fate:
        """The rows' fate after `result`; the outage state moves on, its turns logged."""
        now, before = self.clock(), self._outage
        fate, self._outage = delivery.settle(result, now, before)
        after = self._outage
        if after.streak > before.streak and (
            after.streak == 1
            or self._outage_logged is None
            or now - self._outage_logged >= OUTAGE_LOG_EVERY
        ):
            self._outage_logged = now
            logger.warning(
                "Bot API unavailable for %.0f s; pushes paused, next try in %.0f s",
                (now - (after.since or now)).total_seconds(),
                ((after.until or now) - now).total_seconds(),
            )
        elif before.streak and not after.streak:
            logger.info(
                "Bot API answers again after %.0f s; pushes resumed",
                (now - (before.since or now)).total_seconds(),
            )
        return fate

    async def send_pending(self) -> SendReport:
        """Send due rows until none is left; a round already running makes this a no-op.

        While the Bot API is down a round sends nothing until the pause is over; then it
        probes with one due row (`news.delivery.Outage.claim_size`) and goes on if it gets through.
        """
        report = SendReport()
        if self._lock.locked() or not self._available():
            return report
        async with self._lock:
            batch = self._outage.claim_size(self.batch)
            while self._available() and (
                claimed := await self.storage.claim_deliveries(
                    limit=batch, now=(claimed_at := self.clock()), lease=self.lease
                )
            ):
                batch = self.batch
                self._claim_ends = delivery.lease_ends(claimed_at, self.lease)
                places = delivery.by_place(claimed)
                settings = await self._settings(chat for chat, _ in places)
                await self._complete_quiet_digests(places, settings)
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
        places = delivery.by_place(claimed)
        await self._send_places(
            places, await self._settings(chat for chat, _ in places), report, daily=True
        )

    async def _complete_quiet_digests(
        self, places: delivery.Places, settings: Callable[[int], ChatSettings]
    ) -> None:
        """A chat whose quiet hours just ended gets the rest of what they held added to its
        places (`news.delivery.quiet_rest`): a claim is cut at `batch` rows, its digest must
        not be."""
        now = self.clock()
        by_chat: dict[int, list[Delivery]] = defaultdict(list)
        for (chat_id, _), rows in places.items():
            by_chat[chat_id].extend(rows)
        for chat_id, rows in by_chat.items():
            if rest := delivery.quiet_rest(rows, settings(chat_id), now):
                more = await self.storage.claim_deliveries(
                    limit=rest, now=now, lease=self.lease, chat_id=chat_id
                )
                for place, owed in delivery.by_place(more).items():
                    places.setdefault(place, []).extend(owed)

    async def _send_places(
        self,
        places: delivery.Places,
        settings: Callable[[int], ChatSettings],
        report: SendReport,
        *,
        daily: bool = False,
    ) -> None:
        """Send each place (a chat and its forum topic) its rows, as its chat's settings say."""
        await asyncio.gather(
            *(
                self._send_chat(chat, thread, rows, settings(chat), report, daily=daily)
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

        fate = await self._deliver(
            card.chat_id,
            text,
            more_button(card.story.id, texts),
            edited,
            message_id=card.message_id,
            placing=Placing(preview=link_preview(card.story, previews)),
        )
        now = self.clock()
        match fate:
            case delivery.Done():
                report.edited += 1
            case delivery.Retry(at, _):
                await self.storage.retry_edit(card.delivery_id, at=at)
            case delivery.Stop(delivery.Failure("chat gone", reason)):
                await self.storage.deactivate_chat(card.chat_id, reason=reason, now=now)
            case _:  # moved, or refused for good ("message to edit not found"): never again
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
            for (_, thread), owed in delivery.by_place(rows).items():
                await self._send_chat(chat_id, thread, owed, chat, report, daily=True)
        return report

    async def _send_chat(
        self,
        chat_id: int,
        thread_id: int,
        rows: Sequence[Delivery],
        chat: ChatSettings,
        report: SendReport,
        *,
        daily: bool = False,
    ) -> None:
        """Apply the decider's actions to one place's rows; send its messages in order."""
        texts = texts_for(chat.push_language)
        now = self.clock()
        units: list[_Unit] = []
        for action in delivery.decide(rows, chat, now, daily=daily):
            match action:
                case delivery.Hold(held, until):
                    await self.storage.hold_deliveries(
                        [row.id for row in held], until=until, now=now
                    )
                case delivery.DropStale(stale, error):
                    await self.storage.mark_failed([row.id for row in stale], error=error, now=now)
                    report.failed += len(stale)
                case delivery.SendDigest(carried, kind):
                    title = digest_heading(kind, len(carried), texts)
                    messages = digest_messages(title, carried, now, texts=texts)
                    units += [
                        (text, [row.id for row in part], None, None) for text, part in messages
                    ]
                    report.digests += len(messages)
                case delivery.SendCard(row):
                    card = story_card(row.story, now, texts=texts, topics=row.topics, also=row.also)
                    units.append((card, [row.id], row.also, row))
        for position, (text, ids, shown, card_row) in enumerate(units):

            async def sent(
                message_id: int, ids: list[int] = ids, shown: tuple[str, ...] | None = shown
            ) -> None:
                await self._sent_log.record(ids, message_id, shown)

            markup = more_button(card_row.story.id, texts) if card_row is not None else None
            preview = link_preview(card_row.story, chat.preview) if card_row else NO_PREVIEW
            placing = Placing(thread_id, preview, chat.silent)
            fate = await self._deliver(chat_id, text, markup, sent, placing=placing)
            now = self.clock()
            match fate:
                case delivery.Done():
                    report.sent += len(ids)
                case delivery.GiveUp(error):
                    await self.storage.mark_failed(ids, error=error, now=now)
                    report.failed += len(ids)
                case delivery.Retry(at, error):
                    unsent = [i for _, later, _, _ in units[position:] for i in later]
                    await self.storage.mark_failed(unsent, error=error, now=now, retry_at=at)
                    report.retried += len(unsent)
                    return
                case delivery.Stop(result):
                    await self._chat_ends(chat_id, thread_id, result, report)
                    return

    async def _chat_ends(
        self, chat_id: int, thread_id: int, result: delivery.SendResult, report: SendReport
    ) -> None:
        """The chat (or its forum topic) can take no more: what Telegram said becomes its fate."""
        now = self.clock()
        match result:
            case delivery.Failure("chat gone", reason):
                report.failed += await self.storage.deactivate_chat(chat_id, reason=reason, now=now)
            case delivery.ChatMoved(new_chat_id):
                await self.storage.migrate_chat(chat_id, new_chat_id, now=now)
            case delivery.Failure("topic gone", reason):
                ended = await self.storage.end_thread(chat_id, thread_id, reason=reason, now=now)
                report.failed += 1
                logger.info(
                    "chat %s: forum topic %s is closed or gone (%s); its %d subscriptions ended",
                    chat_id,
                    thread_id,
                    reason,
                    ended,
                )
            case _:  # the lease lapsed: the rows stay claimed for the next claim
                pass

    async def _settings(self, chat_ids: Iterable[int]) -> Callable[[int], ChatSettings]:
        """What each of these chats chose in /settings; a chat the storage does not know gets
        the defaults, with the sender's preview mode."""
        chats = await self.storage.chat_push_settings(list(set(chat_ids)))
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
        placing: Placing,
    ) -> delivery.Fate:
        """Send one message (or edit `message_id`) when the gateway gives it a slot, record
        it through `on_success` while the slot of the unrecorded window is held; say what
        Telegram answered and what it means for the rows (`news.delivery.settle`)."""
        async with self._unrecorded:
            result = delivery.gate(self.clock(), self._outage, self._claim_ends) or await attempt(
                self.bot, chat_id, text, markup, message_id=message_id, placing=placing
            )
            fate = self._settle(result)
            if isinstance(fate, delivery.Done):
                await on_success(fate.message_id)
            return fate
