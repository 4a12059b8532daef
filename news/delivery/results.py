"""What one attempt to send (or edit) a message came to, in the domain's words.

The sender maps Telegram's answers (python-telegram-bot's exceptions) to these values
(`handlers.sending`); what they mean for the outbox rows is the decider's (`settle`). A type per
case, joined in `SendResult`, each carrying only what its case needs, so that a `match` over
them is checked whole by mypy:

- `Sent`: Telegram took the message (or the edit), with its message id;
- `FloodWait`: a 429, the chat may be written to again after `delay`;
- `ChatMoved`: the group became a supergroup with a new id, where its subscriptions and rows go;
- `Failure`: the chat is gone (403: blocked, kicked, deleted), its forum topic is gone (deleted
  or closed), the Bot API is unreachable (network error, 5xx, timeout: try again later), or the
  message was refused for good (any other 400) — each with Telegram's words;
- `Lapsed`: nothing was sent, the claim's lease ran out first (the rows are another sender's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

#: Whose failure: the chat's, its forum topic's, the Bot API's, or the message's own.
FailureKind = Literal["chat gone", "topic gone", "unreachable", "refused"]


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: int


@dataclass(frozen=True, slots=True)
class FloodWait:
    """The chat is held back for `delay` (the gateway logged the 429 and waits it out too)."""

    delay: timedelta
    error: str


@dataclass(frozen=True, slots=True)
class ChatMoved:
    new_chat_id: int


@dataclass(frozen=True, slots=True)
class Failure:
    """It failed, and whose failure it is decides what becomes of the rows (`settle`): the
    chat's or the topic's end them, the Bot API's are retried, a refused message is given up."""

    kind: FailureKind
    error: str


@dataclass(frozen=True, slots=True)
class Lapsed:
    """Not sent: past the claim's `lease_ends`, the rows may be another sender's already."""


SendResult = Sent | FloodWait | ChatMoved | Failure | Lapsed
