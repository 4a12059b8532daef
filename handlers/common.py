"""What the handler modules share: `Services`, replies, the error handler, buttons and their data.

Handler modules import from each other only this module (and `handlers.render` for text,
`handlers.permissions` for who may change a chat), so a change to one command never reaches
into another's callbacks.

Buttons carry callback data under Telegram's 64-byte cap:
- `card:<story id>` under a pushed story opens its card (`handlers.details`);
- `more:<token>:<microseconds>:<id>` under a /latest page lists the next one (`handlers.latest`).
  The cursor is the (published time, id) of the last event's matching report; the token stands
  for the query (topic and page size), because a topic may be 200 characters long. The bot keeps
  only those queries, one per (chat, topic, page size) however far it is paged, at most
  `PAGING_PER_CHAT` a chat and `PAGING_BYTES` in all, each forgotten `PAGING_TTL` after its last
  use. An older button, or one from before a restart, answers that the list has expired.

Numbers in callback data and in an inline query's offset come from whoever sent them: a cursor
or a story id is taken only when it fits the column it is compared with (`STORY_ID_MAX`,
`CURSOR_MICROS_MAX`), else the data is not ours. A button pressed twice or late (its message
already edited, deleted or too old to edit, its query too old to answer) is no failure: those
errors of Telegram's are logged as one line and nobody is told that something went wrong
(`stale_button`).
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, TypeVar

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MaybeInaccessibleMessage,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, TypeHandler, filters

from handlers.gateway import ReplyExpired
from handlers.i18n import LANGUAGES, Texts, texts_for, texts_in
from news.errors import TopicError
from news.model import ChatSettings, Story
from news.ports import Storage
from news.reading import AcrossLanguages, CardArticles
from news.topics import Topic, parse_topic

logger = logging.getLogger(__name__)

# Characters of a user's input quoted back in a reply at most.
ECHO_LIMIT = 60

CommandCallbackHandler = BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]

# Commands come as messages (edited ones too, as PTB's default) and as posts in a channel,
# where only its admins can post.
_COMMAND_UPDATES = filters.UpdateType.MESSAGES | filters.UpdateType.CHANNEL_POST


#: What a command runs: PTB awaits the coroutine it returns.
CommandCallback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def command_handler(command: str, callback: CommandCallback) -> CommandCallbackHandler:
    """The handler of a command sent in any chat, or posted in a channel."""
    return CommandHandler(command, callback, filters=_COMMAND_UPDATES)


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What /status says of the process answering it: its role, its version, and seconds
    since each of its loops last ticked (None: not yet)."""

    role: str = "all"
    version: str = ""
    last_ticks: Callable[[], Mapping[str, float | None]] = dict


@dataclass(frozen=True, slots=True)
class Services:
    """What the command callbacks need, handed in by the composition root."""

    storage: Storage
    clock: Callable[[], datetime]
    admins: frozenset[int] = frozenset()
    # Called when a chat's digest time or time zone changes, so its daily job can follow.
    schedule_digest: Callable[[ChatSettings], None] = lambda settings: None
    process: ProcessInfo = ProcessInfo()
    # Where story cards find their stories' articles; None while article reading is off.
    articles: CardArticles | None = None
    # What finds stories in other languages by meaning for /latest and inline mode; None: words
    # alone.
    across: AcrossLanguages | None = None


# The language chosen in /settings by the chat the update being handled came from, as
# (chat id, language), set by `chat_language_handler` before any other handler runs. PTB handles
# each update in a task of its own, so one chat's choice never leaks into another's update.
_chat_language: ContextVar[tuple[int, str] | None] = ContextVar("chat_language", default=None)


def chat_language_handler(services: Services) -> CommandCallbackHandler:
    """Looks up, before the other handlers, the language the update's chat chose in /settings,
    so that `reader_texts` answers in it (registered in a group ahead of the others)."""

    async def look_up(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        settings = None if chat is None else await services.storage.chat_settings(chat.id)
        chosen = None if settings is None else settings.chosen_language
        _chat_language.set(
            (settings.chat_id, chosen) if settings is not None and chosen in LANGUAGES else None
        )

    return TypeHandler(Update, look_up)


def reader_texts(update: Update) -> Texts:
    """The texts in the language the update's chat chose in /settings, else in that of the person
    who sent it, else English."""
    chosen, chat = _chat_language.get(), update.effective_chat
    if chosen is not None and chat is not None and chosen[0] == chat.id:
        return texts_in(chosen[1])
    user = update.effective_user
    return texts_for(user.language_code if user is not None else None)


_Data = TypeVar("_Data")


def button_press(
    update: Update, parse: Callable[[str], _Data | None]
) -> tuple[CallbackQuery, Texts, _Data | None] | None:
    """A button press: its callback query, the presser's texts and the button's data as `parse`
    reads it (None where it cannot); None for an update that is no button press."""
    callback = update.callback_query
    if callback is None:
        return None
    return callback, reader_texts(update), parse(callback.data or "")


async def parse_or_explain(update: Update, raw: str, texts: Texts) -> Topic | None:
    """The parsed topic, or None after telling the user what is wrong with it, in `texts`."""
    try:
        return parse_topic(raw)
    except TopicError as error:
        await reply(update, escape(texts.topic_error(error)))
        return None


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """What a user typed, cut for quoting back: no reply may outgrow Telegram's message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def refuse_argument(update: Update, texts: Texts, message: str, **said: str) -> None:
    """Tell the user a command cannot use what they wrote: `message` (English, marked with `N_`)
    translated, each of `said` quoted back in it cut to 40 characters and escaped."""
    quoted = {name: escape(shorten(text, 40)) for name, text in said.items()}
    await reply(update, texts._(message, **quoted))


def thread_of(message: MaybeInaccessibleMessage | None) -> int:
    """The forum topic a message was written in (its `message_thread_id`), 0 for the chat
    itself: a private chat, a group, a channel, a forum's General topic. A reply thread in a
    group that is not a forum has a thread id too, but it is no topic (`is_topic_message`)."""
    if isinstance(message, Message) and message.is_topic_message and message.message_thread_id:
        return message.message_thread_id
    return 0


async def reply(update: Update, text: str) -> None:
    """Answer in the chat the update came from, as HTML without link previews.

    In a forum topic python-telegram-bot's `reply_text` answers in that topic (it passes the
    message's `message_thread_id` on), as people expect of a reply.

    The request goes through the bot's `handlers.gateway.Gateway` at reply priority: ahead of
    pushes, and sent again after any 429 for as long as Telegram asks to wait.
    """
    message = update.effective_message
    if message is not None:
        await message.reply_text(
            text,
            parse_mode=ParseMode.HTML,
            do_quote=False,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


def split_count(words: Sequence[str]) -> tuple[str, int | None]:
    """`/latest ukraine 10` → ("ukraine", 10); a lone number is a topic, not a count.

    A count is decimal digits of any script ("١٠" is 10); "²" or "½" are numbers to
    `str.isdigit` or `isnumeric` but not to `int`, so they stay words of the topic.
    """
    if len(words) >= 2 and words[-1].isdecimal() and len(words[-1]) <= 4:
        return " ".join(words[:-1]), int(words[-1])
    return " ".join(words), None


CARD_PREFIX = "card"
MORE_PREFIX = "more"


def card_data(story_id: int) -> str:
    return f"{CARD_PREFIX}:{story_id}"


#: The largest story id: `stories.id` is an INTEGER column, 32 bits on PostgreSQL. A larger
#: number in a button or an offset names no story, and the database would refuse to compare it.
STORY_ID_MAX = 2**31 - 1
#: The largest publication time in a cursor, in microseconds since 1970: a signed 64-bit integer.
CURSOR_MICROS_MAX = 2**63 - 1


def _story_id(text: str) -> int | None:
    if not _number(text) or not 0 < (number := int(text)) <= STORY_ID_MAX:
        return None
    return number


def parse_card_data(data: str) -> int | None:
    """The story id from callback data, or None when the data is not a card button's."""
    prefix, _, story = data.partition(":")
    return _story_id(story) if prefix == CARD_PREFIX else None


def more_button(story_id: int, texts: Texts) -> InlineKeyboardMarkup:
    """The keyboard under a pushed card."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.pgettext("button opening a story's card", "More ▸"),
                    callback_data=card_data(story_id),
                )
            ]
        ]
    )


def cursor_text(last: Story) -> str:
    """The keyset cursor after `last` as text: "<published microseconds>:<id>"."""
    micros = int(last.published_at.timestamp() * 1_000_000)
    return f"{micros}:{last.id}"


def parse_cursor(text: str) -> tuple[datetime, int] | None:
    """The (published time, id) of a `cursor_text`, or None when it is not one (nor any the
    database could compare: see `STORY_ID_MAX`)."""
    parts = text.split(":")
    if len(parts) != 2 or not _number(parts[0]) or (story_id := _story_id(parts[1])) is None:
        return None
    micros = int(parts[0])
    if micros > CURSOR_MICROS_MAX:
        return None
    try:
        published = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # forged data: a time no clock can hold
        return None
    return published, story_id


def more_data(token: str, last: Story) -> str:
    """Callback data for the next page after `last`: well under Telegram's 64 bytes."""
    return f"{MORE_PREFIX}:{token}:{cursor_text(last)}"


def _number(text: str) -> bool:
    return text.isascii() and text.isdecimal() and len(text) <= 20


def parse_more_data(data: str) -> tuple[str, tuple[datetime, int]] | None:
    """(token, cursor) from callback data, or None when it is not ours or malformed."""
    prefix, _, rest = data.partition(":")
    token, _, cursor = rest.partition(":")
    if prefix != MORE_PREFIX or ":" in token or (parsed := parse_cursor(cursor)) is None:
        return None
    return token, parsed


#: "More" keeps working this long after the list was last paged.
PAGING_TTL = timedelta(hours=24)
#: Lists a chat can page at once: its newest ones.
PAGING_PER_CHAT = 20
#: Memory all chats' lists may take (a query is its topic and about `_ENTRY_BYTES` besides).
PAGING_BYTES = 2 * 1024 * 1024
_ENTRY_BYTES = 400


@dataclass(frozen=True, slots=True)
class PagedQuery:
    """A list behind "More" buttons: whose, on what, how many a page."""

    chat_id: int
    topic: str | None
    count: int

    @property
    def size(self) -> int:
        return _ENTRY_BYTES + len((self.topic or "").encode())


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


# What Telegram answers about a button pressed twice or late, lowercased: its message is already
# as the edit would make it, is gone or too old to edit or reply to, or the press itself is too
# old to answer.
_STALE_BUTTON = (
    "message is not modified",
    "message to edit not found",
    "message can't be edited",
    "message to be replied not found",
    "message_id_invalid",
    "query is too old",
    "query id is invalid",
)


def stale_button(error: BaseException | None) -> bool:
    """Whether `error` is Telegram saying a button was pressed twice or late, not a failure."""
    if not isinstance(error, BadRequest):
        return False
    said = error.message.lower()
    return any(phrase in said for phrase in _STALE_BUTTON)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure first, then tell the user something went wrong instead of going silent.

    The log names the update and its chat by id only: users' names and what they wrote stay
    out of it, and so does the error's message, which may quote them (a database error shows
    the statement's parameters). The Bot API being unreachable is one line; anything else is
    a bug and gets its traceback (the frames, without the message). A button pressed twice or
    late (`stale_button`) is neither: one line at INFO, and nobody is told anything went wrong.
    """
    update_id = update.update_id if isinstance(update, Update) else None
    chat = update.effective_chat if isinstance(update, Update) else None
    error = context.error
    if isinstance(error, ReplyExpired):
        return  # the gateway counts and logs these; a reply about a reply would be as late
    if isinstance(update, Update) and update.callback_query is not None and stale_button(error):
        # A double tap or a press on an old message: the presser saw all there was to see.
        logger.info(
            "update %s in chat %s: a button pressed twice or late (%s)",
            update_id,
            chat.id if chat else None,
            type(error).__name__,
        )
        return
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        logger.warning(
            "%s: Bot API unavailable (%s)",
            "getting updates"
            if update is None
            else f"update {update_id} in chat {chat.id if chat else None}",
            type(error).__name__,
        )
    else:
        frames = "".join(traceback.format_tb(error.__traceback__)) if error else ""
        logger.error(
            "update %s in chat %s failed: %s\n%s",
            update_id,
            chat.id if chat else None,
            type(error).__name__,
            frames.rstrip(),
        )
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await reply(
                update,
                reader_texts(update)._("Sorry, something went wrong on my side. Please try again."),
            )
        except TelegramError as failure:
            logger.warning(
                "could not tell chat %s about the failure: %s", chat.id if chat else None, failure
            )
