"""The chats and messages the fake Telegram keeps: chat types from ids, per-chat message ids.

Private chats have the user's (positive) id, supergroups ids of -100… (13 digits and more),
groups other negative ids. A chat a user wrote from (`inject_message`) keeps the details given;
any other chat is described from its id alone. Messages are stored by `(chat_id, message_id)`,
the bot's and the users', so edits and taps on buttons find them.
"""

from __future__ import annotations

import time
from typing import Any

from .protocol import JSONDict

SUPERGROUP_IDS_BELOW = -1_000_000_000_000


class ChatDirectory:
    """The chats and messages Telegram knows, and the bot's own `User` object."""

    def __init__(self, bot_user: JSONDict) -> None:
        self.bot_user = bot_user
        self.chats: dict[int, JSONDict] = {}
        self.messages: dict[tuple[int, int], JSONDict] = {}
        self._next_message_id: dict[int, int] = {}

    def chat(self, chat_id: int) -> JSONDict:
        """The `Chat` object of `chat_id`."""
        known = self.chats.get(chat_id)
        if known is not None:
            return known
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        if chat_id <= SUPERGROUP_IDS_BELOW:
            return {"id": chat_id, "type": "supergroup", "title": "Test Supergroup"}
        return {"id": chat_id, "type": "group", "title": "Test Group"}

    def new_message(self, chat_id: int, sender: JSONDict, **fields: Any) -> JSONDict:
        """Store a new message from `sender` in the chat, with the chat's next message id."""
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message = self._message(chat_id, message_id, sender, fields)
        self.messages[(chat_id, message_id)] = message
        return message

    def bot_message(self, chat_id: int, message_id: int) -> JSONDict:
        """The bot's message `message_id` in the chat; one the fake never saw (or a user's) is
        taken leniently as an empty message of the bot's."""
        message = self.messages.get((chat_id, message_id))
        if message is not None and self.is_bots(message):
            return message
        return self._message(chat_id, message_id, self.bot_user, {"text": ""})

    def is_bots(self, message: JSONDict) -> bool:
        return bool(message.get("from", {}).get("id") == self.bot_user["id"])

    def _message(
        self, chat_id: int, message_id: int, sender: JSONDict, fields: JSONDict
    ) -> JSONDict:
        return {
            "message_id": message_id,
            "from": sender,
            "chat": self.chat(chat_id),
            "date": int(time.time()),
            **fields,
        }
