"""The chats and messages the fake Telegram keeps: chat types from ids, per-chat message ids.

Private chats have the user's (positive) id, supergroups ids of -100… (13 digits and more),
groups other negative ids. A chat a user wrote from (`inject_message`) keeps the details given;
any other chat is described from its id alone. Channels exist only once a test adds one
(`add_channel`), with the `@username` `getChat` finds it by. Messages are stored by
`(chat_id, message_id)`, the bot's and the users', so edits and taps on buttons find them.

Who is what in a chat (`getChatMember`): the status a test set (`set_chat_member`), else
"member" for a user who wrote in the chat, else "left" for a user Telegram knows (one who wrote
anywhere, and the bot); any other user id is not found.
"""

from __future__ import annotations

import time
from typing import Any

from .forums import ForumTopics
from .protocol import JSONDict, bad_request

SUPERGROUP_IDS_BELOW = -1_000_000_000_000


class ChatDirectory:
    """The chats and messages Telegram knows, and the bot's own `User` object."""

    def __init__(self, bot_user: JSONDict) -> None:
        self.bot_user = bot_user
        self.chats: dict[int, JSONDict] = {}
        self.messages: dict[tuple[int, int], JSONDict] = {}
        self._next_message_id: dict[int, int] = {}
        self.known_users: dict[int, JSONDict] = {int(bot_user["id"]): bot_user}
        self.wrote_in: set[tuple[int, int]] = set()  # (chat, user): the user sent a message
        self.members: dict[tuple[int, int], JSONDict] = {}  # (chat, user): status and rights
        self.forum_topics = ForumTopics()  # which chats are forums, and their topics

    def add_channel(self, chat_id: int, *, username: str | None, title: str) -> JSONDict:
        """A channel the bot can be asked about (by id or `@username`)."""
        if chat_id > SUPERGROUP_IDS_BELOW:
            raise ValueError("channel ids are -100… like supergroups'")
        channel: JSONDict = {"id": chat_id, "type": "channel", "title": title}
        if username:
            channel["username"] = username
        self.chats[chat_id] = channel
        return channel

    def find(self, chat_id: Any) -> JSONDict:
        """The chat a `chat_id` parameter names (an id or a channel's `@username`), as
        Telegram answers for a chat the bot knows: any other is "chat not found"."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            for chat in self.chats.values():
                if str(chat.get("username", "")).lower() == wanted and chat["type"] == "channel":
                    return chat
            raise bad_request("chat not found")
        try:
            key = int(chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        if key in self.chats:
            return self.chats[key]
        if key > 0 and key in self.known_users:
            return self.chat(key)
        raise bad_request("chat not found")

    def member(self, chat_id: int, user_id: int) -> JSONDict:
        """The `ChatMember` of `user_id` in the chat (see the module's docstring)."""
        user = self.known_users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        status = self.members.get((chat_id, user_id))
        if status is not None:
            return {**status, "user": user}
        if (chat_id, user_id) in self.wrote_in:
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}

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
        if "id" in sender and not sender.get("is_bot"):
            self.known_users[int(sender["id"])] = sender
            self.wrote_in.add((chat_id, int(sender["id"])))
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
