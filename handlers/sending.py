"""One push request to Telegram, and what its answer comes to (`news.delivery.SendResult`).

The sender (`handlers.sender`) decides nothing here: this module sends or edits one message
through the bot (at push priority, so the gateway serves replies to people first) and maps
python-telegram-bot's exceptions to results:

    sent                    → Sent, with the message id
    429 retry_after         → FloodWait (the gateway logged it and holds the chat back)
    403 blocked / kicked    → Failure "chat gone"
    400 migrate_to_chat_id  → ChatMoved, with the new supergroup id
    400 entities            → sent again as plain text
    400 preview refused     → sent again without the link preview (`handlers.previews`)
    400 thread not found,   → Failure "topic gone": the forum topic was deleted or closed
        TOPIC_CLOSED
    other 400               → Failure "refused"
    network error / 5xx     → Failure "unreachable"
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import timedelta
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

from handlers.gateway import Priority, retry_after_seconds
from handlers.previews import NO_PREVIEW, refused_preview
from news.delivery import ChatMoved, Failure, FloodWait, SendResult, Sent

logger = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]+>")
# What Telegram answers for a forum topic that is gone or closed to the bot.
_TOPIC_GONE = ("message thread not found", "topic_closed", "topic_deleted")


@dataclass(frozen=True, slots=True)
class Placing:
    """Where and how a message goes out: its forum topic (0: the chat itself), its link
    preview, and whether it comes without a notification sound."""

    thread_id: int = 0
    preview: LinkPreviewOptions = NO_PREVIEW
    silent: bool = False


def _plain(html_text: str) -> str:
    return unescape(_TAG.sub("", html_text))


async def attempt(
    bot: ExtBot[Priority],
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    *,
    message_id: int | None = None,
    placing: Placing = Placing(),
) -> SendResult:
    """One request to Telegram — a new message, or an edit of `message_id` — and what its
    answer comes to: a preview Telegram refuses (a 400 that creates no message) costs the card
    its preview, never the push."""

    async def put(placing: Placing) -> int:
        if message_id is not None:
            return await _edit(bot, chat_id, message_id, text, markup, placing.preview)
        return await _send(bot, chat_id, text, markup, placing)

    try:
        try:
            sent = await put(placing)
        except BadRequest as error:
            if not refused_preview(error, placing.preview):
                raise
            logger.info("chat %s: the link preview was refused (%s); sent without", chat_id, error)
            sent = await put(replace(placing, preview=NO_PREVIEW))
        return Sent(sent)
    except RetryAfter as error:  # the gateway logged it and holds the chat back
        return FloodWait(timedelta(seconds=retry_after_seconds(error)), str(error))
    except Forbidden as error:
        return Failure("chat gone", str(error))
    except ChatMigrated as error:
        return ChatMoved(error.new_chat_id)
    except BadRequest as error:
        if placing.thread_id and any(gone in str(error).lower() for gone in _TOPIC_GONE):
            return Failure("topic gone", str(error))
        logger.warning("chat %s refused a message: %s", chat_id, error)
        return Failure("refused", str(error))
    except NetworkError as error:  # after BadRequest, which is a NetworkError in PTB
        return Failure("unreachable", str(error))
    except TelegramError as error:
        logger.warning("chat %s refused a message: %s", chat_id, error)
        return Failure("refused", str(error))


async def _send(
    bot: ExtBot[Priority],
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    placing: Placing,
) -> int:
    async def send(body: str, parse_mode: str | None) -> int:
        message = await bot.send_message(
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
    bot: ExtBot[Priority],
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None,
    preview: LinkPreviewOptions,
) -> int:
    try:
        await bot.edit_message_text(
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
        await bot.edit_message_text(
            _plain(text),
            chat_id=chat_id,
            message_id=message_id,
            link_preview_options=preview,
            reply_markup=markup,
            rate_limit_args=Priority.PUSH,
        )
    return message_id
