"""A fake Telegram Bot API server for tests, driven by the real python-telegram-bot client.

`FakeBotApi` is an aiohttp server on 127.0.0.1 (a random free port) in the test's own event
loop. Point PTB at it with `Application.builder().token(fake.token).base_url(fake.base_url)` or
`telegram.Bot(fake.token, base_url=fake.base_url)`; PTB then POSTs to
`{base_url}{token}/{method}` exactly as it would to api.telegram.org.

What it does, like Telegram:

* answers `POST|GET /bot<token>/<method>` (method names case-insensitive) and decodes parameters
  sent as form data, multipart or JSON (PTB JSON-encodes every non-string value in a form field);
  a wrong token gets `401 Unauthorized`;
* long polling: `getUpdates` honours `offset` (confirming and dropping older updates, negative
  offsets too), `limit`, `timeout` (held until an update arrives; no wall-clock sleeping) and
  `allowed_updates` (remembered between calls; by default `chat_member`, `message_reaction` and
  `message_reaction_count` updates are not delivered); a second `getUpdates` terminates a waiting
  one with `409 Conflict`, and `getUpdates` while a webhook is set answers 409 as well;
* `sendMessage` / `editMessageText` / `editMessageReplyMarkup` (and `sendPhoto` /
  `sendDocument`, uploads decoded from multipart) return full `Message` objects with per-chat
  message ids; `parse_mode=HTML` text is parsed with Telegram's rules (see
  `telegram_html`), so invalid HTML, empty and over-long (> 4096 characters) texts, callback data
  over 64 bytes and edits that change nothing fail with Telegram's `400 Bad Request`
  descriptions; MarkdownV2/Markdown texts are not checked;
* `getMe`, `setMyCommands`/`getMyCommands`/`deleteMyCommands` (per scope and language),
  `setWebhook`/`deleteWebhook` (`drop_pending_updates` drops queued updates)/`getWebhookInfo`,
  `answerCallbackQuery` (only for injected query ids), `getChat`; every other method answers
  `true`.

Every call is recorded (`calls`, `RecordedCall`); tests wait for calls with `wait_for_call` /
`wait_for_message` (woken on every recorded call through an `asyncio.Event` that is replaced on
each change: unlike an `asyncio.Condition` it needs no lock, so the synchronous `inject_*`
methods can wake a waiting long poll; a waiter looks at each call once, not at all of them on
every wake-up), inject user input with `inject_message` / `inject_callback_query` /
`inject_update`, and make calls fail like Telegram does:

* `fail_next` (any answer, e.g. 429 with `retry_after`), `block_chat` (403),
  `migrate_chat` (400 with `migrate_to_chat_id`: PTB raises `ChatMigrated`), `fail_server`
  (5xx, e.g. `502 Bad Gateway`: PTB raises `NetworkError`) and `drop_connections` (the
  connection is closed without an answer: PTB raises `NetworkError`);
* `start_outage` / `end_outage`: every call (long polls included) answers a 5xx, or has its
  connection dropped, until released; `after_sends=N` lets N more messages through first, so
  an outage can begin in the middle of a fan-out;
* `redirect_to`: every call answers a redirect to another URL (which a client must not follow:
  the token is in the path);
* `on_delivered`: a callback for each successful send, right before it is answered (e.g. to
  lock the database between a send and its recording);
* `enforce_limits` applies Telegram's flood limits to the sending methods
  (`RATE_LIMITED_METHODS`) as strict sliding windows over the fake's clock (see
  `telegram_limits`): a send over a limit gets `429 Too Many Requests: retry after N`
  (`too_many_requests` counts them).

The order of checks for a call: `fail_next`/`fail_server`/`drop_connections` rules (in the
order they were added), `migrate_chat`, `block_chat`, the flood limits, then the method itself
(which may still answer 400, e.g. for invalid HTML). Only sends the limits let through count
towards them, including those that then fail with 400.

Timestamps (`RecordedCall.at`, the limits, `send_rate_timeline`) come from the `clock`
given to the constructor, `time.monotonic` by default; tests inject one they move by hand.
For benchmarks the request path is kept cheap: O(1) bookkeeping per call (per-chat indexes
of delivered messages, deques for the limit windows) and, with `validate_html=False`, no
HTML parsing. `delivered`, `duplicates`, `send_rate_timeline` and `peak_sends` summarise
what got through.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from .telegram_html import HtmlParseError, bot_command_entities, parse_html
from .telegram_limits import RateLimiter, RateLimits, retry_after_seconds

JSONDict = dict[str, Any]

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
DEFAULT_GROUP_USER_ID = 1001

# Updates Telegram leaves out unless they are listed in `allowed_updates`.
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Bot API parameters of type String. PTB sends string values verbatim in form fields and
# JSON-encodes everything else, so a text like "42" or "true" must not be JSON-decoded.
_STRING_PARAMS = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "document",
        "photo",
        "sticker",
        "thumbnail",
        "video",
        "video_note",
        "voice",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "currency",
        "custom_emoji_id",
        "data",
        "description",
        "emoji",
        "explanation",
        "first_name",
        "foursquare_id",
        "foursquare_type",
        "google_place_id",
        "google_place_type",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "next_offset",
        "parse_mode",
        "payload",
        "phone_number",
        "provider_token",
        "query",
        "question",
        "secret_token",
        "short_description",
        "start_parameter",
        "text",
        "title",
        "url",
        "vcard",
    }
)

# The methods that put a message into a chat (or change one): the flood limits apply to them,
# and their successful calls make up `send_rate_timeline`.
RATE_LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendPaidMedia",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
    }
)

# Canonical spelling of the methods the fake treats specially (lower-case -> camelCase).
_KNOWN_METHODS = {
    name.lower(): name
    for name in (
        "getMe",
        "logOut",
        "close",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "deleteMessages",
        "sendChatAction",
        "answerCallbackQuery",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "getChat",
        "sendPhoto",
        "sendDocument",
        "copyMessage",
        "forwardMessage",
        "pinChatMessage",
        "leaveChat",
        "setMyDescription",
        "setMyShortDescription",
        "setChatMenuButton",
        *RATE_LIMITED_METHODS,
    )
}


@dataclass
class RecordedCall:
    """One Bot API call the fake received (recorded whether it succeeded or failed).

    `params` are the decoded parameters; `at` is the fake's clock (`time.monotonic()` unless
    another was injected) on arrival. `result` is what the fake answered (`None` while a
    `getUpdates` long poll is still waiting), or for a failed call `error_code` and
    `description`; a call whose connection was dropped (`drop_connections`) has `dropped`
    set and no `error_code`.
    """

    method: str
    params: dict[str, Any]
    at: float
    failed: bool = False
    error_code: int | None = None
    description: str | None = None
    result: Any = None
    dropped: bool = False


@dataclass
class _FailureRule:
    method: str  # lower-case
    error_code: int
    description: str
    chat_id: int | str | None
    parameters: JSONDict | None
    times: int
    action: Literal["answer", "drop"] = "answer"


@dataclass
class _ApiError(Exception):
    error_code: int
    description: str
    parameters: JSONDict | None = field(default=None)


class _DropConnection(Exception):
    """Close the connection without answering."""


DROPPED_DESCRIPTION = "connection closed without a response (drop_connections)"


def _bad_request(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


def _decode_value(name: str, value: str) -> Any:
    """Undo PTB's form encoding: JSON-decode a field unless it is a string parameter."""
    if name in _STRING_PARAMS:
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return value if isinstance(decoded, str) else decoded


def _chat_key(chat_id: Any) -> int | str:
    """Normalise a `chat_id` parameter: ints stay ints, numeric strings become ints."""
    if isinstance(chat_id, bool):
        raise _bad_request("chat not found")
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        try:
            return int(chat_id)
        except ValueError:
            return chat_id
    raise _bad_request("chat_id is empty")


def _same_chat(param: Any, chat_id: int | str) -> bool:
    try:
        return _chat_key(param) == chat_id
    except _ApiError:
        return False


def _chat_or_none(params: JSONDict) -> int | str | None:
    """The normalised `chat_id` of a call, or None when it has none (or an invalid one)."""
    value = params.get("chat_id")
    if value is None:
        return None
    try:
        return _chat_key(value)
    except _ApiError:
        return None


def _answer_true(_params: JSONDict) -> bool:
    """What the fake answers for the methods it has no handler for."""
    return True


@functools.lru_cache(maxsize=4096)
def _parse_html_cached(text: str) -> tuple[str, tuple[JSONDict, ...], str | None]:
    """`parse_html` remembered per text (a broadcast sends one text to many chats): the plain
    text, the entities (copy them before use) and the error, if the HTML is invalid."""
    try:
        plain, entities = parse_html(text)
    except HtmlParseError as exc:
        return "", (), str(exc)
    return plain, tuple(entities), None


def _render(
    params: JSONDict, key: str, entities_key: str, *, validate_html: bool = True
) -> tuple[str, list[JSONDict]]:
    """Apply `parse_mode` to a text: HTML is checked like Telegram (unless `validate_html` is
    off: the text is then kept as sent, without entities); other modes pass through."""
    text = str(params.get(key) or "")
    parse_mode = params.get("parse_mode")
    if parse_mode and str(parse_mode).lower() == "html":
        if not validate_html:
            return text, []
        plain, entities, error = _parse_html_cached(text)
        if error is not None:
            raise _bad_request(f"can't parse entities: {error}")
        return plain, [dict(entity) for entity in entities]
    given = params.get(entities_key)
    return text, [dict(e) for e in given] if isinstance(given, list) else []


class FakeBotApi:
    """A fake Telegram Bot API server on 127.0.0.1 for the real python-telegram-bot client.

    `clock` gives the time of every call (for `RecordedCall.at`, the flood limits and the
    send timeline); `validate_html=False` skips Telegram's HTML parsing (HTML texts are then
    stored as sent, without entities) to make the request path cheaper for benchmarks.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        username: str = "newsbot_test_bot",
        *,
        clock: Callable[[], float] = time.monotonic,
        validate_html: bool = True,
    ) -> None:
        bot_id = token.split(":", 1)[0]
        if not bot_id.isdigit():
            raise ValueError(f"a bot token starts with the bot's numeric id: {token!r}")
        self._token = token
        self._clock = clock
        self._validate_html = validate_html
        self._bot_user: JSONDict = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": "Newsbot Test",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.calls: list[RecordedCall] = []
        # Broadcast "something changed": set() and replaced on every change. Unlike an
        # asyncio.Condition it needs no lock, so the synchronous inject_* methods can wake
        # waiting long polls and wait_for_* callers.
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = False

        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._webhook_url = ""

        self._chats: dict[int | str, JSONDict] = {}
        self._next_message_id: dict[int | str, int] = {}
        self._messages: dict[tuple[int | str, int], JSONDict] = {}
        self._callback_ids = itertools.count(4_000_000_000_000_001)
        self._open_callback_queries: set[str] = set()
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._failures: list[_FailureRule] = []
        self._blocked: set[int | str] = set()
        self._migrated: dict[int | str, int] = {}
        self._limiter: RateLimiter | None = None
        self._outage: _FailureRule | None = None
        self._outage_after_sends = 0
        self._redirect: str | None = None
        self._redirect_status = 307
        self.on_delivered: Callable[[JSONDict], None] | None = None
        self.too_many_requests = 0
        """How many calls the flood limits (`enforce_limits`) answered with 429."""

        # Indexes of what got through, kept as calls succeed so that reading them is cheap.
        self._delivered: list[JSONDict] = []
        self._delivered_by_chat: dict[int | str, list[JSONDict]] = {}
        self._send_times: list[float] = []
        self._send_times_by_chat: dict[int | str, list[float]] = {}
        self._handlers: dict[str, Callable[[JSONDict], Any]] = {
            "getMe": lambda _params: self.bot_user,
            "getWebhookInfo": self._get_webhook_info,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start serving on 127.0.0.1 on a free port."""
        if self._runner is not None:
            raise RuntimeError("FakeBotApi is already running")
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # handler_cancellation: a long poll whose client went away stops waiting at once.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self._closing = False

    async def stop(self) -> None:
        """Release waiting long polls and shut the server down."""
        if self._runner is None:
            return
        self._closing = True
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ properties

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not running; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """PTB's `base_url`: `http://127.0.0.1:PORT/bot` (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def token(self) -> str:
        return self._token

    @property
    def bot_user(self) -> JSONDict:
        """The `User` object `getMe` answers (a copy)."""
        return dict(self._bot_user)

    # ------------------------------------------------------------------ inspection

    def mark(self) -> int:
        """The number of calls recorded so far, for `after=` in the wait helpers."""
        return len(self.calls)

    def calls_to(self, method: str, *, include_failed: bool = False) -> list[RecordedCall]:
        """Recorded calls of one method (case-insensitive), successful ones unless asked."""
        wanted = method.lower()
        return [
            call
            for call in self.calls
            if call.method.lower() == wanted and (include_failed or not call.failed)
        ]

    def sent_messages(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Parameters of the successful `sendMessage` calls, optionally for one chat."""
        return self.delivered(chat_id)

    def delivered(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Parameters of the successful `sendMessage` calls in arrival order, optionally for
        one chat (`5` and `"5"` are the same chat). A copy of an index: O(result)."""
        if chat_id is None:
            return list(self._delivered)
        return list(self._delivered_by_chat.get(_chat_key(chat_id), ()))

    def duplicates(self, key: Callable[[JSONDict], Hashable]) -> int:
        """How many successful `sendMessage`s repeat an earlier one, compared by `key`.

        E.g. `duplicates(lambda p: (p["chat_id"], p["text"]))`: a text delivered three times
        to a chat counts 2.
        """
        counts = Counter(key(params) for params in self._delivered)
        return sum(count - 1 for count in counts.values())

    def send_rate_timeline(self, chat_id: int | str | None = None) -> list[float]:
        """Arrival times (the fake's clock) of the successful sends, in order.

        Sends are the calls of `RATE_LIMITED_METHODS` (messages, media, copies, forwards and
        edits), as the flood limits count them; optionally only those to one chat.
        """
        if chat_id is None:
            return list(self._send_times)
        return list(self._send_times_by_chat.get(_chat_key(chat_id), ()))

    def peak_sends(self, window: float = 1.0, chat_id: int | str | None = None) -> int:
        """The most successful sends (see `send_rate_timeline`) within any `window` seconds.

        A send `window` seconds after another is in a new window, as for the limits: the
        strict limits never let this exceed 30 for 1.0 s, or 1 for 1.0 s and one private chat.
        """
        if window <= 0:
            raise ValueError("window must be positive")
        times = self._send_times if chat_id is None else self.send_rate_timeline(chat_id)
        peak = start = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            peak = max(peak, end - start + 1)
        return peak

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """The `text` parameters (as sent, e.g. still HTML) of the successful `sendMessage`s."""
        return [str(params.get("text", "")) for params in self.sent_messages(chat_id)]

    def get_message(self, chat_id: int | str, message_id: int) -> JSONDict | None:
        """The current state (after edits) of a message the fake knows, or None."""
        message = self._messages.get((chat_id, message_id))
        return None if message is None else dict(message)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by a `getUpdates` offset."""
        return list(self._updates)

    @property
    def commands(self) -> list[JSONDict]:
        """The commands set for the default scope and no language."""
        return list(self._commands.get(self._commands_key(None, None), []))

    # ------------------------------------------------------------------ waiting

    async def wait_for_call(
        self,
        predicate: Callable[[RecordedCall], bool],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for waiting on the fake
        after: int = 0,
    ) -> RecordedCall:
        """The first call with index >= `after` that matches, waiting up to `timeout` seconds.

        Each call is tested once, when it has been recorded, except a `getUpdates` long poll
        still waiting (its `result` is set later): it is tested again on every change until
        it has answered. So waiting costs O(new calls) per wake-up, not O(all calls).
        """
        position = after  # the calls before this index were tested (or are in `waiting`)
        waiting: list[int] = []  # indexes of long polls that had not answered when tested

        def unfinished(call: RecordedCall) -> bool:
            return call.method == "getUpdates" and call.result is None and not call.failed

        def find() -> RecordedCall | None:
            nonlocal position
            calls = self.calls
            if position > len(calls):  # `calls` was cleared or replaced: start again
                position = after
                waiting.clear()
            for index in list(waiting):
                call = calls[index]
                if predicate(call):
                    return call
                if not unfinished(call):
                    waiting.remove(index)
            for index in range(position, len(calls)):
                call = calls[index]
                position = index + 1
                if predicate(call):
                    return call
                if unfinished(call):
                    waiting.append(index)
            return None

        try:
            async with asyncio.timeout(timeout):
                while (found := find()) is None:
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"no matching Bot API call within {timeout}s (looking at calls from "
                f"#{after}); recorded: {self.describe_calls(after)}"
            ) from None
        return found

    async def wait_for_message(
        self,
        chat_id: int | str,
        *,
        contains: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for waiting on the fake
        after: int = 0,
    ) -> JSONDict:
        """The parameters of the first successful `sendMessage` to the chat (index >= after)."""

        def matches(call: RecordedCall) -> bool:
            return (
                call.method == "sendMessage"
                and not call.failed
                and _same_chat(call.params.get("chat_id"), chat_id)
                and (contains is None or contains in str(call.params.get("text", "")))
            )

        call = await self.wait_for_call(matches, timeout=timeout, after=after)
        return call.params

    def describe_calls(self, after: int = 0) -> str:
        """A short, human-readable list of the calls from index `after` on."""
        parts: list[str] = []
        previous: str | None = None
        repeat = 0
        for call in self.calls[after:]:
            if call.dropped:
                label = f"{call.method} [dropped]"
            else:
                label = call.method + (f" [failed {call.error_code}]" if call.failed else "")
            if "chat_id" in call.params:
                label += f"(chat_id={call.params['chat_id']!r}"
                if "text" in call.params:
                    text = str(call.params["text"])
                    label += f", text={text[:60] + '…' if len(text) > 60 else text!r}"
                label += ")"
            if label == previous:
                repeat += 1
                parts[-1] = f"{label} ×{repeat}"
                continue
            previous, repeat = label, 1
            parts.append(label)
        return ", ".join(parts) if parts else "(none)"

    # ------------------------------------------------------------------ injecting input

    def inject_update(self, update: Mapping[str, Any]) -> int:
        """Queue a raw update (its `update_id` is assigned here) and return the update_id."""
        update_id = next(self._update_ids)
        stored = {key: value for key, value in update.items() if key != "update_id"}
        stored = {"update_id": update_id, **stored}
        self._updates.append(stored)
        self._notify()
        return update_id

    def inject_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        username: str = "alice",
        first_name: str = "Alice",
        chat_title: str | None = None,
        language_code: str = "en",
    ) -> int:
        """Queue a text message from a user, as Telegram delivers it; return the update_id.

        Private chats have the user's (positive) id; groups and supergroups negative ids and
        a title. Commands get their `bot_command` entities as real Telegram sends them. The
        user's `language_code` is the language of their Telegram app ("uk", "pt-br").
        """
        if chat_type == "private":
            if chat_id <= 0:
                raise ValueError("a private chat has the user's positive id")
            if user_id is not None and user_id != chat_id:
                raise ValueError("in a private chat the user id is the chat id")
            user_id = chat_id
        elif chat_type in ("group", "supergroup"):
            if chat_id >= 0:
                raise ValueError("group and supergroup chat ids are negative")
        else:
            raise ValueError(f"unsupported chat_type for a user message: {chat_type!r}")
        user = {
            "id": user_id if user_id is not None else DEFAULT_GROUP_USER_ID,
            "is_bot": False,
            "first_name": first_name,
            "username": username,
            "language_code": language_code,
        }
        if chat_type == "private":
            chat: JSONDict = {
                "id": chat_id,
                "type": "private",
                "first_name": first_name,
                "username": username,
            }
        else:
            chat = {"id": chat_id, "type": chat_type, "title": chat_title or "Test Group"}
        self._chats[chat_id] = chat
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        entities = bot_command_entities(text)
        if entities:
            message["entities"] = entities
        self._messages[(chat_id, message["message_id"])] = message
        return self.inject_update({"message": message})

    def inject_callback_query(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
    ) -> int:
        """Queue a tap on an inline button of the bot's message; return the update_id."""
        message = self._messages.get((chat_id, message_id))
        if message is None or message.get("from", {}).get("id") != self._bot_user["id"]:
            message = {
                "message_id": message_id,
                "from": self._bot_user,
                "chat": self._chat_for(chat_id),
                "date": int(time.time()),
                "text": "",
            }
        if user_id is None:
            user_id = chat_id if chat_id > 0 else DEFAULT_GROUP_USER_ID
        chat = self._chats.get(chat_id, {})
        user: JSONDict = {
            "id": user_id,
            "is_bot": False,
            "first_name": chat.get("first_name", "Alice") if chat_id > 0 else "Alice",
            "username": chat.get("username", "alice") if chat_id > 0 else "alice",
            "language_code": "en",
        }
        query_id = str(next(self._callback_ids))
        self._open_callback_queries.add(query_id)
        callback_query = {
            "id": query_id,
            "from": user,
            "message": dict(message),
            "chat_instance": str(zlib.crc32(str(chat_id).encode()) + 10**12),
            "data": data,
        }
        return self.inject_update({"callback_query": callback_query})

    # ------------------------------------------------------------------ failures

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str,
        chat_id: int | str | None = None,
        parameters: JSONDict | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` (optionally to one chat) fail like Telegram.

        The answer is `{"ok": false, "error_code", "description"[, "parameters"]}` with HTTP
        status `error_code`, e.g. 429 with `{"retry_after": 3}`, 403 "Forbidden: bot was
        blocked by the user", or 400 with `{"migrate_to_chat_id": -100123}`.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        self._failures.append(
            _FailureRule(method.lower(), error_code, description, chat_id, parameters, times)
        )

    def block_chat(self, chat_id: int | str) -> None:
        """From now on, sending to this chat fails with 403 as when a user blocked the bot."""
        self._blocked.add(_chat_key(chat_id))

    def unblock_chat(self, chat_id: int | str) -> None:
        self._blocked.discard(_chat_key(chat_id))

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group `old_chat_id` became the supergroup `new_chat_id`, as Telegram does it.

        From now on every call naming the old id as `chat_id` answers `400 Bad Request: group
        chat was upgraded to a supergroup chat` with `{"migrate_to_chat_id": new_chat_id}`
        (PTB raises `telegram.error.ChatMigrated`); the new id is a supergroup that works.
        """
        if old_chat_id >= 0 or new_chat_id >= 0:
            raise ValueError("a group migrates to a supergroup: both chat ids are negative")
        if old_chat_id == new_chat_id:
            raise ValueError("the supergroup has a new chat id")
        old = self._chat_for(old_chat_id)
        self._chats[new_chat_id] = {
            "id": new_chat_id,
            "type": "supergroup",
            "title": old.get("title", "Test Supergroup"),
        }
        self._migrated[old_chat_id] = new_chat_id

    def fail_server(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 502,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (optionally to one chat) answer a 5xx error.

        The body is Telegram-like, `{"ok": false, "error_code": 502, "description": "Bad
        Gateway"}` (the description is the status's reason phrase); PTB raises
        `telegram.error.NetworkError` with that description.
        """
        if not 500 <= status <= 599:
            raise ValueError(f"a server error has a 5xx status, not {status}")
        try:
            description = HTTPStatus(status).phrase
        except ValueError:
            description = "Server Error"
        self.fail_next(
            method, error_code=status, description=description, chat_id=chat_id, times=times
        )

    def drop_connections(
        self, method: str, *, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        """Make the next `times` calls of `method` (optionally to one chat) get no answer: the
        server reads the request, then closes the connection. PTB raises
        `telegram.error.NetworkError` ("Server disconnected without sending a response").
        The call is recorded with `failed` and `dropped` set; it sent nothing.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        self._failures.append(
            _FailureRule(
                method.lower(), 0, DROPPED_DESCRIPTION, chat_id, None, times, action="drop"
            )
        )

    def start_outage(self, *, status: int = 502, drop: bool = False, after_sends: int = 0) -> None:
        """Answer every call with `status` (a 5xx), or drop its connection, until
        `end_outage`; with `after_sends`, only once that many more sends have succeeded."""
        if not drop and not 500 <= status <= 599:
            raise ValueError(f"a server error has a 5xx status, not {status}")
        try:
            description = HTTPStatus(status).phrase
        except ValueError:
            description = "Server Error"
        action: Literal["answer", "drop"] = "drop" if drop else "answer"
        rule = _FailureRule("*", status, description, None, None, 0, action=action)
        if drop:
            rule.description = DROPPED_DESCRIPTION
        self._outage = rule
        self._outage_after_sends = after_sends

    def end_outage(self) -> None:
        """The Bot API answers again."""
        self._outage = None
        self._outage_after_sends = 0

    @property
    def in_outage(self) -> bool:
        """Whether calls are failing now because of `start_outage`."""
        return self._outage is not None and self._outage_after_sends == 0

    def redirect_to(self, url: str | None, *, status: int = 307) -> None:
        """Answer every call with a redirect (`status`, `Location: url`); None stops it."""
        if not 300 <= status <= 399:
            raise ValueError(f"a redirect has a 3xx status, not {status}")
        self._redirect = url
        self._redirect_status = status

    def enforce_limits(
        self,
        *,
        global_per_second: float = 30,
        private_per_second: float = 1,
        group_per_minute: float = 20,
    ) -> None:
        """Apply Telegram's flood limits to the sending methods (`RATE_LIMITED_METHODS`).

        A send that would make more than `global_per_second` sends in the last 1.0 s, more
        than `private_per_second` to one private chat (positive id) in the last 1.0 s, or more
        than `group_per_minute` to one group, supergroup or channel in the last 60 s answers
        HTTP 429 `{"ok": false, "error_code": 429, "description": "Too Many Requests: retry
        after N", "parameters": {"retry_after": N}}` with N the whole seconds (rounded up, at
        least 1) until it would be let through; PTB raises `telegram.error.RetryAfter`.
        Strict, without Telegram's tolerance for short bursts: see `telegram_limits` (also
        for rates that are not whole numbers). Calling it again starts with empty windows.
        """
        self._limiter = RateLimiter(
            RateLimits(global_per_second, private_per_second, group_per_minute)
        )

    def disable_limits(self) -> None:
        """Stop applying the flood limits (and forget the sends they counted)."""
        self._limiter = None

    @property
    def limits(self) -> RateLimits | None:
        """The flood limits being applied, or None."""
        return None if self._limiter is None else self._limiter.limits

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self._token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        raw_method = request.match_info["method"]
        method = _KNOWN_METHODS.get(raw_method.lower(), raw_method)
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            return self._error_response(_bad_request(f"can't parse parameters: {exc}"))

        call = RecordedCall(method=method, params=params, at=self._clock())
        chat = _chat_or_none(params)
        recorded = False
        if self._redirect is not None:
            call.failed = True
            call.error_code = self._redirect_status
            self.calls.append(call)
            self._notify()
            return web.Response(status=self._redirect_status, headers={"Location": self._redirect})
        try:
            if self.in_outage:
                assert self._outage is not None
                if self._outage.action == "drop":
                    raise _DropConnection
                raise _ApiError(self._outage.error_code, self._outage.description)
            self._check_failures(method, params, chat)
            if method == "getUpdates":
                self.calls.append(call)  # recorded on arrival; `result` is set on return
                recorded = True
                self._notify()
                result = await self._get_updates(params)
            else:
                sending = method in RATE_LIMITED_METHODS
                if sending and self._limiter is not None:
                    self._check_limits(chat, call.at)
                result = self._handlers.get(method, _answer_true)(params)
                if sending:
                    self._count_send(method, params, chat, call.at)
                    if self._outage is not None and self._outage_after_sends > 0:
                        self._outage_after_sends -= 1
                    if self.on_delivered is not None:
                        self.on_delivered(params)
        except _ApiError as error:
            call.failed = True
            call.error_code = error.error_code
            call.description = error.description
            if not recorded:
                self.calls.append(call)
            self._notify()
            return self._error_response(error)
        except _DropConnection:
            call.failed = call.dropped = True
            call.description = DROPPED_DESCRIPTION
            self.calls.append(call)
            self._notify()
            return self._drop(request)
        if not recorded:
            self.calls.append(call)
        call.result = result
        self._notify()
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection unanswered (the response returned is never written)."""
        transport = request.transport
        if transport is not None:
            transport.close()
        return web.Response(status=499)

    def _check_limits(self, chat: int | str | None, now: float) -> None:
        assert self._limiter is not None
        wait = self._limiter.admit(chat, now)
        if wait > 0:
            self.too_many_requests += 1
            retry_after = retry_after_seconds(wait)
            raise _ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )

    def _count_send(self, method: str, params: JSONDict, chat: int | str | None, at: float) -> None:
        """Index a successful send for `delivered` and the timeline."""
        self._send_times.append(at)
        if chat is not None:
            self._send_times_by_chat.setdefault(chat, []).append(at)
            if method == "sendMessage":
                self._delivered.append(params)
                self._delivered_by_chat.setdefault(chat, []).append(params)

    @staticmethod
    def _error_response(error: _ApiError) -> web.Response:
        body: JSONDict = {
            "ok": False,
            "error_code": error.error_code,
            "description": error.description,
        }
        if error.parameters is not None:
            body["parameters"] = error.parameters
        return web.json_response(body, status=error.error_code)

    @staticmethod
    async def _read_params(request: web.Request) -> JSONDict:
        params: JSONDict = {key: _decode_value(key, value) for key, value in request.query.items()}
        if request.method not in ("POST", "PUT") or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the JSON body is not an object")
            for key, value in body.items():
                params[key] = _decode_value(key, value) if isinstance(value, str) else value
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = _decode_value(key, value)
            elif isinstance(value, bytes | bytearray):
                params[key] = bytes(value)
            else:  # an uploaded file
                params[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read(),
                }
        return params

    def _notify(self) -> None:
        """Wake everything waiting for a change (recorded call, new update, shutdown)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _check_failures(self, method: str, params: JSONDict, chat: int | str | None) -> None:
        """Raise for a failure made on demand: rules in order, migrations, blocked chats."""
        if self._failures:
            wanted = method.lower()
            for rule in self._failures:
                if rule.method != wanted:
                    continue
                if rule.chat_id is not None and not _same_chat(params.get("chat_id"), rule.chat_id):
                    continue
                rule.times -= 1
                if rule.times == 0:
                    self._failures.remove(rule)
                if rule.action == "drop":
                    raise _DropConnection
                raise _ApiError(rule.error_code, rule.description, rule.parameters)
        if chat is None:
            return
        if self._migrated and chat in self._migrated:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat]},
            )
        if self._blocked and chat in self._blocked and method != "getChat":
            raise _ApiError(403, self._forbidden_description(chat))

    def _forbidden_description(self, chat_id: int | str) -> str:
        chat_type = self._chat_for(chat_id)["type"]
        if chat_type == "private":
            return "Forbidden: bot was blocked by the user"
        if chat_type == "group":
            return "Forbidden: bot was kicked from the group chat"
        if chat_type == "channel":
            return "Forbidden: bot is not a member of the channel chat"
        return "Forbidden: bot was kicked from the supergroup chat"

    # ------------------------------------------------------------------ methods

    def _get_webhook_info(self, _params: JSONDict) -> JSONDict:
        return {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _set_webhook(self, params: JSONDict) -> bool:
        self._webhook_url = str(params.get("url", ""))
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        self._webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self._webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed]
        self._confirm(offset)

        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # terminate an older long poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that "
                    "only one bot instance is running",
                )
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                return batch
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                return self._deliverable(limit)

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self, limit: int) -> list[JSONDict]:
        allowed = set(self._allowed_updates)

        def wanted(update: JSONDict) -> bool:
            kind = next((key for key in update if key != "update_id"), "")
            return kind in allowed if allowed else kind not in _OPT_IN_UPDATE_TYPES

        return [update for update in self._updates if wanted(update)][:limit]

    # -- messages

    def _new_message_id(self, chat_id: int | str) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _chat_for(self, chat_id: int | str) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return known
        if isinstance(chat_id, str):  # "@channelusername"
            name = chat_id.lstrip("@")
            fake_id = -1_000_000_000_000 - zlib.crc32(name.encode())
            return {"id": fake_id, "type": "channel", "title": name, "username": name}
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        if chat_id <= -1_000_000_000_000:
            return {"id": chat_id, "type": "supergroup", "title": "Test Supergroup"}
        return {"id": chat_id, "type": "group", "title": "Test Group"}

    def _render_text(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        """The text and entities Telegram would store for `text` + `parse_mode`/`entities`."""
        text, entities = _render(params, "text", "entities", validate_html=self._validate_html)
        if not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        return text, entities

    def _render_caption(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        """Like `_render_text` for an optional media caption."""
        if not params.get("caption"):
            return "", []
        caption, entities = _render(
            params, "caption", "caption_entities", validate_html=self._validate_html
        )
        if len(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        return caption, entities

    @staticmethod
    def _check_reply_markup(markup: Any) -> JSONDict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup  # a reply keyboard or ForceReply: not attached to the message
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request('can\'t parse inline keyboard button: field "inline_keyboard"')
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or "text" not in button:
                    raise _bad_request("can't parse inline keyboard button: text is missing")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad_request("BUTTON_DATA_INVALID")
                if len(button) == 1:
                    raise _bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
        return markup

    def _send_message(self, params: JSONDict) -> JSONDict:
        if "chat_id" not in params:
            raise _bad_request("chat_id is empty")
        chat_id = _chat_key(params["chat_id"])
        text, entities = self._render_text(params)
        markup = self._check_reply_markup(params.get("reply_markup"))
        chat = self._chat_for(chat_id)
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": self._bot_user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _media_message(self, params: JSONDict, media: JSONDict) -> JSONDict:
        if "chat_id" not in params:
            raise _bad_request("chat_id is empty")
        chat_id = _chat_key(params["chat_id"])
        caption, entities = self._render_caption(params)
        markup = self._check_reply_markup(params.get("reply_markup"))
        message: JSONDict = {
            "message_id": self._new_message_id(chat_id),
            "from": self._bot_user,
            "chat": self._chat_for(chat_id),
            "date": int(time.time()),
            **media,
        }
        if caption:
            message["caption"] = caption
        if entities:
            message["caption_entities"] = entities
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        return message

    @staticmethod
    def _file_info(value: Any, kind: str) -> JSONDict:
        """File fields for a file sent by upload (a dict after decoding), by URL or file_id."""
        if isinstance(value, dict):  # uploaded as multipart
            data = value.get("data")
            content = data if isinstance(data, bytes) else b""
            name = str(value.get("filename") or "file")
            mime_type = str(value.get("content_type") or "application/octet-stream")
            digest = f"{zlib.crc32(name.encode() + content):08x}"
            file_id = f"{kind}-{digest}"
        elif value:  # a file_id (kept) or a URL Telegram would download
            text = str(value)
            content, mime_type = b"", "application/octet-stream"
            name = text.rsplit("/", 1)[-1] or "file"
            digest = f"{zlib.crc32(text.encode()):08x}"
            file_id = f"{kind}-{digest}" if text.startswith(("http://", "https://")) else text
        else:
            raise _bad_request(f"there is no {kind} in the request")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{digest}",
            "file_size": len(content),
            "file_name": name,
            "mime_type": mime_type,
        }

    def _send_photo(self, params: JSONDict) -> JSONDict:
        info = self._file_info(params.get("photo"), "photo")
        sizes = [
            {
                "file_id": f"{info['file_id']}-{side}",
                "file_unique_id": f"{info['file_unique_id']}{side}",
                "width": side,
                "height": side,
                "file_size": info["file_size"],
            }
            for side in (90, 320)
        ]
        return self._media_message(params, {"photo": sizes})

    def _send_document(self, params: JSONDict) -> JSONDict:
        return self._media_message(
            params, {"document": self._file_info(params.get("document"), "document")}
        )

    def _message_to_edit(self, params: JSONDict) -> tuple[int | str, JSONDict]:
        if "chat_id" not in params or "message_id" not in params:
            raise _bad_request("message identifier is not specified")
        chat_id = _chat_key(params["chat_id"])
        message_id = int(params["message_id"])
        message = self._messages.get((chat_id, message_id))
        if message is None:  # lenient: a message the fake never saw is taken as the bot's
            message = {
                "message_id": message_id,
                "from": self._bot_user,
                "chat": self._chat_for(chat_id),
                "date": int(time.time()),
                "text": "",
            }
        elif message.get("from", {}).get("id") != self._bot_user["id"]:
            raise _bad_request("message can't be edited")
        return chat_id, message

    def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        text, entities = self._render_text(params)
        markup = self._check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        chat_id, message = self._message_to_edit(params)
        return self._store_edit(chat_id, message, text, entities, markup)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        markup = self._check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        chat_id, message = self._message_to_edit(params)
        entities = list(message.get("entities", []))
        return self._store_edit(chat_id, message, str(message.get("text", "")), entities, markup)

    def _store_edit(
        self,
        chat_id: int | str,
        message: JSONDict,
        text: str,
        entities: list[JSONDict],
        markup: JSONDict | None,
    ) -> JSONDict:
        if (
            message.get("text") == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        edited = {
            key: value
            for key, value in message.items()
            if key not in ("text", "entities", "reply_markup", "edit_date")
        }
        edited["text"] = text
        if entities:
            edited["entities"] = entities
        if markup is not None:  # editing without reply_markup removes the inline keyboard
            edited["reply_markup"] = markup
        edited["edit_date"] = int(time.time())
        self._messages[(chat_id, edited["message_id"])] = edited
        return edited

    def _delete_message(self, params: JSONDict) -> bool:
        if "chat_id" in params and "message_id" in params:
            self._messages.pop((_chat_key(params["chat_id"]), int(params["message_id"])), None)
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        if str(params.get("callback_query_id", "")) not in self._open_callback_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text", ""))) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        return True

    # -- commands

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            if not (1 <= len(name) <= 32) or not name.replace("_", "a").isalnum():
                raise _bad_request("BOT_COMMAND_INVALID")
            if name != name.lower():
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description must be non-empty")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return list(self._commands.get(key, []))

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands.pop(key, None)
        return True

    def _get_chat(self, params: JSONDict) -> JSONDict:
        chat = dict(self._chat_for(_chat_key(params.get("chat_id"))))
        chat.setdefault("accent_color_id", 0)
        chat.setdefault("max_reaction_count", 11)
        chat.setdefault(
            "accepted_gift_types",
            {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        )
        return chat
