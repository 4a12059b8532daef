"""Pushing queued stories to chats: reads the outbox, sends each card, records the outcome.

A row is claimed (state "sending") before it is sent and marked "sent" right after, so a story
is never sent twice by a healthy process. Telegram's answers decide what happens next: a blocked
bot makes the chat inactive, a flood-wait leaves the row pending for the next round, broken HTML
is sent again as plain text, network trouble is retried a few times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from re import sub

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from handlers.render import story_card
from news.model import Delivery
from news.ports import Storage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass(slots=True)
class SendReport:
    """What one round of sending did."""

    sent: int = 0
    failed: int = 0
    retried: int = 0


def _plain(html_text: str) -> str:
    return unescape(sub(r"<[^>]+>", "", html_text))


class Sender:
    """Sends the outbox's pending rows through a python-telegram-bot `Bot`."""

    def __init__(self, bot: Bot, storage: Storage, clock: Callable[[], datetime]) -> None:
        self.bot = bot
        self.storage = storage
        self.clock = clock

    async def send_pending(self, *, batch: int = 50) -> SendReport:
        """Send pending rows until none is left or Telegram asks to wait."""
        report = SendReport()
        while True:
            claimed = await self.storage.claim_deliveries(limit=batch, now=self.clock())
            if not claimed:
                return report
            for position, delivery in enumerate(claimed):
                if not await self._send_one(delivery, report):
                    # Telegram asked us to slow down: hand the rest back for the next round.
                    for later in claimed[position + 1 :]:
                        await self.storage.mark_failed(
                            later.id, error="postponed", retry=True, now=self.clock()
                        )
                    return report

    async def _send_one(self, delivery: Delivery, report: SendReport) -> bool:
        """Send one row; False when Telegram wants us to stop for now."""
        text = story_card(delivery.story, self.clock(), topics=delivery.topics)
        try:
            try:
                message = await self.bot.send_message(
                    delivery.chat_id,
                    text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as error:
                if "entities" not in str(error).lower():
                    raise
                message = await self.bot.send_message(delivery.chat_id, _plain(text))
        except RetryAfter as error:
            await self.storage.mark_failed(
                delivery.id, error=f"flood wait {error.retry_after}s", retry=True, now=self.clock()
            )
            report.retried += 1
            return False
        except Forbidden as error:
            await self.storage.set_chat_active(delivery.chat_id, False)
            await self.storage.mark_failed(
                delivery.id, error=str(error), retry=False, now=self.clock()
            )
            report.failed += 1
            return True
        except TelegramError as error:
            # BadRequest is a NetworkError in PTB, but resending the same request cannot help.
            transient = isinstance(error, NetworkError) and not isinstance(error, BadRequest)
            retry = transient and delivery.attempts < MAX_ATTEMPTS
            if not transient:
                logger.warning(
                    "chat %s refused story %s: %s", delivery.chat_id, delivery.story.id, error
                )
            await self.storage.mark_failed(
                delivery.id, error=str(error), retry=retry, now=self.clock()
            )
            if retry:
                report.retried += 1
                return False
            report.failed += 1
            return True
        await self.storage.mark_sent(delivery.id, now=self.clock(), message_id=message.message_id)
        report.sent += 1
        return True
