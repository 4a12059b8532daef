"""The Bot API's wire conventions, shared by the fake's modules.

Answers are `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description"[,
"parameters"]}` with the HTTP status `error_code`: `ApiError` is such a failure and
`bad_request` builds Telegram's `400 Bad Request: ...`. A `chat_id` may arrive as an int or a
numeric string (`chat_key` makes both one int; the fake knows no `@channelusername`).
python-telegram-bot sends parameters as form fields, JSON-encoding every value that is not a
String in the Bot API (`decode_param` undoes it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSONDict = dict[str, Any]

# Bot API parameters of type String among those of the methods the fake implements. PTB sends
# string values verbatim in form fields and JSON-encodes everything else, so a text like "42" or
# "true" must not be JSON-decoded.
STRING_PARAMS = frozenset(
    {
        "business_connection_id",
        "callback_query_id",
        "inline_query_id",
        "language_code",
        "message_effect_id",
        "next_offset",
        "parse_mode",
        "text",
        "url",
    }
)


@dataclass
class ApiError(Exception):
    """A Bot API failure: the call answers `error_code` with this description."""

    error_code: int
    description: str
    parameters: JSONDict | None = field(default=None)

    def body(self) -> JSONDict:
        """The JSON answer Telegram sends for it."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters is not None:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def decode_param(name: str, value: str) -> Any:
    """Undo PTB's form encoding: JSON-decode a field unless it is a string parameter."""
    if name in STRING_PARAMS:
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return value if isinstance(decoded, str) else decoded


def chat_key(chat_id: Any) -> int:
    """Normalise a `chat_id` parameter: ints stay ints, numeric strings become ints."""
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        return chat_id
    if chat_id is None:
        raise bad_request("chat_id is empty")
    if isinstance(chat_id, str) and chat_id.removeprefix("-").isdigit():
        return int(chat_id)
    raise bad_request("chat not found")


def chat_of(params: JSONDict) -> int | None:
    """The normalised `chat_id` of a call, or None when it has none (or an invalid one)."""
    try:
        return chat_key(params.get("chat_id"))
    except ApiError:
        return None


def is_chat(param: Any, chat_id: int) -> bool:
    """Whether a `chat_id` parameter names `chat_id` (`5` and `"5"` are the same chat)."""
    try:
        return chat_key(param) == chat_id
    except ApiError:
        return False
