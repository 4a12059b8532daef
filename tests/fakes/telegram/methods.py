"""The Bot API methods the bot calls, checked the way Telegram checks them.

`sendMessage`, `editMessageText` and `editMessageReplyMarkup` return full `Message` objects with
per-chat message ids; a message keeps the `link_preview_options` it was sent or edited with (an
object of known fields, as Telegram parses it). `parse_mode=HTML` text is parsed with Telegram's
rules (see `text_rules`), so invalid HTML, empty and over-long (> 4096 characters) texts, callback
data over 64 bytes and edits that change nothing fail with Telegram's `400 Bad Request`
descriptions; other parse modes are not checked. `sendDocument` takes an upload (it covers the
multipart path of the bot's HTTP transport); `setMyCommands` keeps the command menu per scope and
language; `getMe` answers the bot's `User`. `getUpdates`, `setWebhook`/`deleteWebhook` and
`answerCallbackQuery` are in `updates`, `getChat` and `getChatMember` in `members`, forum topics
(`message_thread_id` and the `…ForumTopic` methods) in `forums`. Any other method answers
`404 Not Found` as on Telegram: a method the bot starts to use is added here, with its checks.
"""

from __future__ import annotations

import functools
import json
import time
import zlib
from collections.abc import Callable
from typing import Any

from .chats import ChatDirectory
from .protocol import JSONDict, bad_request, chat_key
from .text_rules import HtmlParseError, parse_html

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64

# The methods that put a message into a chat (or change one): the flood limits apply to them,
# and their successful calls make up `send_rate_timeline`.
RATE_LIMITED_METHODS = frozenset(
    {"sendMessage", "sendDocument", "editMessageText", "editMessageReplyMarkup"}
)

MethodHandler = Callable[[JSONDict], Any]


@functools.lru_cache(maxsize=4096)
def _parse_html_cached(text: str) -> tuple[str, tuple[JSONDict, ...], str | None]:
    """`parse_html` remembered per text (a broadcast sends one text to many chats): the plain
    text, the entities (copy them before use) and the error, if the HTML is invalid."""
    try:
        plain, entities = parse_html(text)
    except HtmlParseError as exc:
        return "", (), str(exc)
    return plain, tuple(entities), None


def rendered_text(
    text: str, parse_mode: Any, *, validate: bool = True
) -> tuple[str, list[JSONDict]]:
    """The text and entities Telegram would store for a message's `text` and `parse_mode`
    (HTML is parsed only when `validate`), or its `400 Bad Request`."""
    entities: list[JSONDict] = []
    if validate and str(parse_mode).lower() == "html":
        text, parsed, error = _parse_html_cached(text)
        if error is not None:
            raise bad_request(f"can't parse entities: {error}")
        entities = [dict(entity) for entity in parsed]
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise bad_request("message is too long")
    return text, entities


_PREVIEW_FIELDS = frozenset(
    {"is_disabled", "url", "prefer_small_media", "prefer_large_media", "show_above_text"}
)


def _check_link_preview(options: Any) -> JSONDict | None:
    """The link preview options to keep with the message (None for none), checked."""
    if options is None:
        return None
    if not isinstance(options, dict) or not set(options) <= _PREVIEW_FIELDS:
        raise bad_request("can't parse link preview options JSON object")
    if "url" in options and not isinstance(options["url"], str):
        raise bad_request("can't parse link preview options JSON object")
    return options


def _check_reply_markup(markup: Any) -> JSONDict | None:
    """The inline keyboard to attach to the message (None for none), checked like Telegram."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None  # a reply keyboard or ForceReply: not attached to the message
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('can\'t parse inline keyboard button: field "inline_keyboard"')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or "text" not in button:
                raise bad_request("can't parse inline keyboard button: text is missing")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
            if len(button) == 1:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
    return markup


class BotMethods:
    """The handlers of the methods above over the chats and messages the fake keeps.

    `validate_html=False` skips Telegram's HTML parsing (HTML texts are then stored as sent,
    without entities) to make the request path cheaper for benchmarks.
    """

    _chats: ChatDirectory

    def __init__(self, *, validate_html: bool) -> None:
        self._validate_html = validate_html
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}

    def _method_handlers(self) -> dict[str, MethodHandler]:
        return {
            "getMe": lambda _params: self._chats.bot_user,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "setMyCommands": self._set_my_commands,
        }

    # ------------------------------------------------------------------ inspection

    def get_message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """The current state (after edits) of a message the fake knows, or None."""
        message = self._chats.messages.get((chat_id, message_id))
        return None if message is None else dict(message)

    @property
    def commands(self) -> list[JSONDict]:
        """The commands set for the default scope and no language."""
        return list(self._commands.get(self._commands_key(None, None), []))

    # ------------------------------------------------------------------ messages

    def _render_text(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        """The text and entities Telegram would store for `text` and `parse_mode`."""
        return rendered_text(
            str(params.get("text") or ""), params.get("parse_mode"), validate=self._validate_html
        )

    def _send(self, params: JSONDict, **fields: Any) -> JSONDict:
        """Store the bot's new message in the chat the call names."""
        chat_id = chat_key(params.get("chat_id"))
        markup = _check_reply_markup(params.get("reply_markup"))
        thread = params.get("message_thread_id")
        fields.update(self._chats.forum_topics.thread_fields(self._chats, chat_id, thread))
        message = self._chats.new_message(chat_id, self._chats.bot_user, **fields)
        if markup is not None:
            message["reply_markup"] = markup
        return message

    def _send_message(self, params: JSONDict) -> JSONDict:
        text, entities = self._render_text(params)
        fields: JSONDict = {"text": text}
        if entities:
            fields["entities"] = entities
        preview = _check_link_preview(params.get("link_preview_options"))
        if preview is not None:
            fields["link_preview_options"] = preview
        return self._send(params, **fields)

    def _send_document(self, params: JSONDict) -> JSONDict:
        upload = params.get("document")
        if not isinstance(upload, dict):
            raise bad_request("there is no document in the request")
        content = upload["data"]
        name = str(upload["filename"] or "file")
        digest = f"{zlib.crc32(name.encode() + content):08x}"
        document = {
            "file_id": f"document-{digest}",
            "file_unique_id": f"u{digest}",
            "file_size": len(content),
            "file_name": name,
            "mime_type": str(upload["content_type"] or "application/octet-stream"),
        }
        return self._send(params, document=document)

    def _message_to_edit(self, params: JSONDict) -> tuple[int, JSONDict]:
        if "chat_id" not in params or "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat_id = chat_key(params["chat_id"])
        message_id = int(params["message_id"])
        known = self._chats.messages.get((chat_id, message_id))
        if known is not None and not self._chats.is_bots(known):
            raise bad_request("message can't be edited")
        return chat_id, self._chats.bot_message(chat_id, message_id)

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        text, entities = self._render_text(params)
        markup = _check_reply_markup(params.get("reply_markup"))
        preview = _check_link_preview(params.get("link_preview_options"))
        chat_id, message = self._message_to_edit(params)
        edited = self._store_edit(chat_id, message, text, entities, markup)
        if preview is not None:
            edited["link_preview_options"] = preview
        return edited

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        markup = _check_reply_markup(params.get("reply_markup"))
        chat_id, message = self._message_to_edit(params)
        entities = list(message.get("entities", []))
        return self._store_edit(chat_id, message, str(message.get("text", "")), entities, markup)

    def _store_edit(
        self,
        chat_id: int,
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
            raise bad_request(
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
        self._chats.messages[(chat_id, edited["message_id"])] = edited
        return edited

    # ------------------------------------------------------------------ commands

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            if not (1 <= len(name) <= 32) or not name.replace("_", "a").isalnum():
                raise bad_request("BOT_COMMAND_INVALID")
            if name != name.lower():
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True
