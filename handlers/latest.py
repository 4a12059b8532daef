"""/latest: the newest events on a topic, and a "More" button that pages back in time.

An event is listed once, however many outlets report it: its lead report, with "+N sources"
(see `news.coverage`).

Pages use a keyset cursor, the (published time, id) of the newest matching report of the last
event shown, never an offset, so stories arriving meanwhile neither repeat nor hide older ones.
An event with a matching report at or after the cursor was listed on an earlier page, so later
pages skip it without remembering what was shown (`news.coverage.listed_above`).

The button's callback data carries the cursor and a short token for the query (topic and page
size): Telegram caps callback data at 64 bytes, and a topic may be 200 characters long. The bot
keeps only those queries, one per (chat, topic, page size) however far it is paged, at most
`PAGING_PER_CHAT` a chat and `PAGING_BYTES` in all, each forgotten `PAGING_TTL` after its last
use. An older button, or one from before a restart, answers that the list has expired.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from news.coverage import Event, events, listed_above
from news.model import Story
from news.ports import Storage
from news.topics import Topic, parse_topic

_PREFIX = "more"
#: "More" keeps working this long after the list was last paged.
PAGING_TTL = timedelta(hours=24)
#: Lists a chat can page at once: its newest ones.
PAGING_PER_CHAT = 20
#: Memory all chats' lists may take (a query is its topic and about `_ENTRY_BYTES` besides).
PAGING_BYTES = 2 * 1024 * 1024
_ENTRY_BYTES = 400
# Rounds of reading further back when a page's stories are mostly copies of a few events.
_FETCH_ROUNDS = 4
EXPIRED = "This list has expired. Send /latest again for the newest stories."


@dataclass(frozen=True, slots=True)
class PagedQuery:
    """A list behind "More" buttons: whose, on what, how many a page."""

    chat_id: int
    topic: str | None
    count: int

    @property
    def size(self) -> int:
        return _ENTRY_BYTES + len((self.topic or "").encode())


async def latest_events(
    storage: Storage,
    topic: Topic | None,
    count: int,
    *,
    before: tuple[datetime, int] | None = None,
    skip: frozenset[int] = frozenset(),
) -> tuple[list[Event], bool]:
    """Up to `count` events on `topic`, newest first, and whether older ones remain.

    With `before` (a page's cursor), events listed above it are left out, as are the events
    in `skip`.
    """
    # The first read is what a list without copies needs; only copies make it read on.
    batch = count + 1
    found: list[Story] = []
    members: dict[int, list[Story]] = {}
    keys: set[int] = set()
    exhausted = False
    cursor = before
    for _ in range(_FETCH_ROUNDS):
        page = await storage.latest(topic, limit=batch, before=cursor)
        found += page
        if before is not None:
            await _load_members(storage, page, members)
        keys.update(
            story.event
            for story in page
            if story.event not in skip and not _above(story, members, topic, before)
        )
        exhausted = len(page) < batch
        if exhausted or len(keys) > count:
            break
        cursor = (page[-1].published_at, page[-1].id)
        batch = 2 * count
    await _load_members(storage, found, members)
    above = {story.event for story in found if _above(story, members, topic, before)}
    listed = events(found, members, skip=skip | above, topic=topic)
    return listed[:count], len(listed) > count or not exhausted


async def _load_members(
    storage: Storage, stories: list[Story], members: dict[int, list[Story]]
) -> None:
    wanted = {s.cluster_id for s in stories if s.cluster_id is not None} - members.keys()
    if wanted:
        members.update(await storage.cluster_members(sorted(wanted)))


def _above(
    story: Story,
    members: dict[int, list[Story]],
    topic: Topic | None,
    before: tuple[datetime, int] | None,
) -> bool:
    if before is None or story.cluster_id is None:
        return False
    return listed_above(members.get(story.cluster_id, ()), topic, before)


@dataclass(slots=True)
class _Kept:
    query: PagedQuery
    used: datetime


class PagingQueries:
    """The queries behind "More" buttons: bounded per chat and in bytes, expiring."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        ttl: timedelta = PAGING_TTL,
        per_chat: int = PAGING_PER_CHAT,
        max_bytes: int = PAGING_BYTES,
    ) -> None:
        self._clock = clock
        self._ttl, self._per_chat, self._max_bytes = ttl, per_chat, max_bytes
        self._kept: OrderedDict[str, _Kept] = OrderedDict()  # least recently used first
        self._tokens: dict[PagedQuery, str] = {}
        self._by_chat: dict[int, OrderedDict[str, None]] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def remember(self, query: PagedQuery) -> str:
        """The token of `query`, the same for as long as it is kept."""
        now = self._clock()
        self._expire(now)
        token = self._tokens.get(query)
        if token is None:
            token = secrets.token_urlsafe(6)
            self._tokens[query] = token
            self._kept[token] = _Kept(query, now)
            self._by_chat.setdefault(query.chat_id, OrderedDict())[token] = None
            self.bytes += query.size
        self._touch(token, now)
        chat = self._by_chat[query.chat_id]
        while len(chat) > self._per_chat:
            self._forget(next(iter(chat)))
        while self.bytes > self._max_bytes and len(self._kept) > 1:
            self._forget(next(iter(self._kept)))
        return token

    def get(self, token: str, chat_id: int) -> PagedQuery | None:
        """The query behind a button pressed in `chat_id`; None once forgotten."""
        now = self._clock()
        self._expire(now)
        kept = self._kept.get(token)
        if kept is None or kept.query.chat_id != chat_id:
            return None
        self._touch(token, now)
        return kept.query

    def _touch(self, token: str, now: datetime) -> None:
        kept = self._kept[token]
        kept.used = now
        self._kept.move_to_end(token)
        self._by_chat[kept.query.chat_id].move_to_end(token)

    def _expire(self, now: datetime) -> None:
        while self._kept:
            token, kept = next(iter(self._kept.items()))
            if now - kept.used < self._ttl:
                return
            self._forget(token)

    def _forget(self, token: str) -> None:
        kept = self._kept.pop(token)
        del self._tokens[kept.query]
        chat = self._by_chat[kept.query.chat_id]
        del chat[token]
        if not chat:
            del self._by_chat[kept.query.chat_id]
        self.bytes -= kept.query.size


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
    queries = PagingQueries(services.clock)

    async def send_page(
        message: Message, heading: str, query: PagedQuery, listed: list[Event], more: bool
    ) -> None:
        texts = latest_messages(heading, listed, services.clock())
        markup = None
        if more and listed:
            token = queries.remember(query)
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
        query = PagedQuery(message.chat_id, topic.text if topic else None, count)
        await send_page(message, heading, query, listed, more)
        if note:
            await reply(update, note)

    async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        callback = update.callback_query
        if callback is None:
            return
        parsed = parse_more_data(callback.data or "")
        message = callback.message
        query = (
            queries.get(parsed[0], message.chat_id)
            if parsed is not None and isinstance(message, Message)
            else None
        )
        if parsed is None or query is None or not isinstance(message, Message):
            await callback.answer(EXPIRED, show_alert=True)
            return
        await callback.answer()
        topic = parse_topic(query.topic) if query.topic else None
        listed, more = await latest_events(storage, topic, query.count, before=parsed[1])
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
