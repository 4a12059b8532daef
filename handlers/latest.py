"""/latest: the newest events on a topic, and a "More" button that pages back in time.

An event is listed once, however many outlets report it: its lead report, with "+N sources"
(see `news.coverage`).

Pages use a keyset cursor, the (published time, id) of the newest matching report of the last
event shown, never an offset, so stories arriving meanwhile neither repeat nor hide older ones.
The button's callback data carries the cursor and a short token for the query (topic, page size
and the events already shown, which later pages skip) that the bot keeps in memory:
Telegram caps callback data at 64 bytes, and a topic may be 200 characters long. After a restart
an old button answers that the list has expired.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from handlers.commands import (
    DEFAULT_LATEST,
    MAX_LATEST,
    CommandCallbackHandler,
    Services,
    parse_or_explain,
    reply,
    split_count,
)
from handlers.render import latest_messages
from news.coverage import Event, events
from news.model import Story
from news.ports import Storage
from news.topics import Topic, parse_topic

_PREFIX = "more"
_REMEMBERED_QUERIES = 10_000
# Rounds of reading further back when a page's stories are mostly copies of a few events.
_FETCH_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class _Query:
    topic: str | None
    count: int
    shown: frozenset[int] = frozenset()


async def latest_events(
    storage: Storage,
    topic: Topic | None,
    count: int,
    *,
    before: tuple[datetime, int] | None = None,
    skip: frozenset[int] = frozenset(),
) -> tuple[list[Event], bool]:
    """Up to `count` events on `topic`, newest first, and whether older ones remain."""
    # The first read is what a list without copies needs; only copies make it read on.
    batch = count + 1
    found: list[Story] = []
    keys: set[int] = set()
    exhausted = False
    cursor = before
    for _ in range(_FETCH_ROUNDS):
        page = await storage.latest(topic, limit=batch, before=cursor)
        found += page
        keys.update(story.event for story in page if story.event not in skip)
        exhausted = len(page) < batch
        if exhausted or len(keys) > count:
            break
        cursor = (page[-1].published_at, page[-1].id)
        batch = 2 * count
    clustered = [story.cluster_id for story in found if story.cluster_id is not None]
    members = await storage.cluster_members(clustered) if clustered else {}
    listed = events(found, members, skip=skip, topic=topic)
    return listed[:count], len(listed) > count or not exhausted


class _Queries:
    """The queries behind "More" buttons, newest kept, oldest forgotten past a bound."""

    def __init__(self, capacity: int = _REMEMBERED_QUERIES) -> None:
        self._items: OrderedDict[str, _Query] = OrderedDict()
        self._capacity = capacity

    def remember(self, query: _Query) -> str:
        token = secrets.token_urlsafe(6)
        self._items[token] = query
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return token

    def get(self, token: str) -> _Query | None:
        return self._items.get(token)


def more_data(token: str, last: Story) -> str:
    """Callback data for the next page after `last`: well under Telegram's 64 bytes."""
    micros = int(last.published_at.timestamp() * 1_000_000)
    return f"{_PREFIX}:{token}:{micros}:{last.id}"


def _number(text: str) -> bool:
    return text.isascii() and text.isdecimal() and len(text) <= 20


def parse_more_data(data: str) -> tuple[str, tuple[datetime, int]] | None:
    """(token, cursor) from callback data, or None when it is not ours or malformed."""
    parts = data.split(":")
    if len(parts) != 4 or parts[0] != _PREFIX or not all(_number(part) for part in parts[2:]):
        return None
    try:
        published = datetime.fromtimestamp(int(parts[2]) / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # forged data: a time no clock can hold
        return None
    return parts[1], (published, int(parts[3]))


def build_latest_handlers(services: Services) -> list[CommandCallbackHandler]:
    """/latest and its "More" button."""
    storage = services.storage
    queries = _Queries()

    async def send_page(
        message: Message, heading: str, query: _Query, listed: list[Event], more: bool
    ) -> None:
        texts = latest_messages(heading, listed, services.clock())
        markup = None
        if more and listed:
            token = queries.remember(
                _Query(query.topic, query.count, query.shown | {e.matched.event for e in listed})
            )
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            "More ▸", callback_data=more_data(token, listed[-1].matched)
                        )
                    ]
                ]
            )
        for position, text in enumerate(texts):
            await message.reply_text(
                text,
                parse_mode=ParseMode.HTML,
                do_quote=False,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=markup if position == len(texts) - 1 else None,
            )

    async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        raw, count = split_count(context.args or ())
        note = None
        if count is None:
            count = DEFAULT_LATEST
        elif not 1 <= count <= MAX_LATEST:
            note = f"(I show between 1 and {MAX_LATEST} stories at once.)"
            count = min(max(count, 1), MAX_LATEST)
        topic: Topic | None = None
        if raw.strip() and (topic := await parse_or_explain(update, raw)) is None:
            return
        listed, more = await latest_events(storage, topic, count)
        if not listed:
            if topic is None:
                await reply(update, "No stories yet: the sources have not been read.")
            else:
                await reply(
                    update,
                    f"No stories on <b>{escape(topic.text)}</b> yet. "
                    f"/subscribe {escape(topic.text)} to get them as they appear.",
                )
            return
        heading = f"Latest on {topic.text}" if topic else "Latest stories"
        await send_page(
            message, heading, _Query(topic.text if topic else None, count), listed, more
        )
        if note:
            await reply(update, note)

    async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        callback = update.callback_query
        if callback is None:
            return
        parsed = parse_more_data(callback.data or "")
        query = queries.get(parsed[0]) if parsed else None
        if parsed is None or query is None:
            await callback.answer("This list has expired. Send /latest again.", show_alert=True)
            return
        await callback.answer()
        message = callback.message
        if not isinstance(message, Message):
            return
        topic = parse_topic(query.topic) if query.topic else None
        listed, more = await latest_events(
            storage, topic, query.count, before=parsed[1], skip=query.shown
        )
        await message.edit_reply_markup(reply_markup=None)
        if not listed:
            await message.reply_text("No older stories.", do_quote=False)
            return
        heading = f"Older on {query.topic}" if query.topic else "Older stories"
        await send_page(message, heading, query, listed, more)

    return [
        CommandHandler("latest", latest),
        CallbackQueryHandler(more, pattern=f"^{_PREFIX}:"),
    ]
