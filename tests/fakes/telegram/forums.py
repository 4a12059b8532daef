"""Forum supergroups and their topics: `createForumTopic` and its kin, and sends into a topic.

A test makes a supergroup a forum (`add_forum`: its `Chat` has `is_forum`), opens topics in it
(`create_forum_topic`, or the bot's own `createForumTopic` call), and closes, reopens or deletes
them (`close_forum_topic`, `delete_forum_topic`, as an admin would in the app, or the methods of
those names). As on Telegram:

* a topic's id (`message_thread_id`) is the id of the service message that opened it
  (`forum_topic_created`), so topic ids and message ids share one sequence per chat;
* a message a user writes in a topic (`inject_message(..., thread_id=...)`) and one the bot
  sends there carry `message_thread_id` and `is_topic_message`; the General topic has neither;
* `sendMessage` with `message_thread_id` into a deleted or unknown topic answers
  "Bad Request: message thread not found", into a closed one "Bad Request: TOPIC_CLOSED"; in a
  group that is not a forum the id names a reply thread (a message that must exist) and the
  message is no topic message.

The bot's rights to manage topics (`can_manage_topics`) are not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .protocol import JSONDict, bad_request, chat_key

if TYPE_CHECKING:
    from .chats import ChatDirectory

TopicState = Literal["open", "closed", "deleted"]
# The colours Telegram allows for a topic's icon (createForumTopic's `icon_color`).
ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)


class ForumTopics:
    """Which chats are forums and the state of each of their topics."""

    def __init__(self) -> None:
        self.forums: set[int] = set()
        self.topics: dict[tuple[int, int], TopicState] = {}

    def thread_fields(self, chats: ChatDirectory, chat_id: int, thread: Any) -> JSONDict:
        """The fields a message sent with `message_thread_id=thread` gets, or Telegram's 400."""
        if thread is None:
            return {}
        try:
            thread_id = int(thread)
        except (TypeError, ValueError):
            raise bad_request("message thread not found") from None
        if chat_id not in self.forums:
            if (chat_id, thread_id) not in chats.messages:
                raise bad_request("message thread not found")
            return {"message_thread_id": thread_id}
        state = self.topics.get((chat_id, thread_id))
        if state is None or state == "deleted":
            raise bad_request("message thread not found")
        if state == "closed":
            raise bad_request("TOPIC_CLOSED")
        return {"message_thread_id": thread_id, "is_topic_message": True}


class ForumMethods:
    """The tests' side of forums and the `…ForumTopic` methods."""

    _chats: ChatDirectory

    def _forum_handlers(self) -> dict[str, Any]:
        return {
            "createForumTopic": self._create_forum_topic,
            "closeForumTopic": lambda params: self._set_topic(params, "closed"),
            "reopenForumTopic": lambda params: self._set_topic(params, "open"),
            "deleteForumTopic": lambda params: self._set_topic(params, "deleted"),
        }

    # ------------------------------------------------------------------ the tests' side

    def add_forum(self, chat_id: int, *, title: str = "Test Forum") -> None:
        """Make the supergroup `chat_id` a forum (its `Chat` has `is_forum`)."""
        if self._chats.chat(chat_id)["type"] != "supergroup":
            raise ValueError("only supergroups (-100… ids) can be forums")
        self._chats.chats[chat_id] = {
            "id": chat_id,
            "type": "supergroup",
            "title": title,
            "is_forum": True,
        }
        self._chats.forum_topics.forums.add(chat_id)

    def create_forum_topic(self, chat_id: int, name: str) -> int:
        """Open a topic in the forum, as an admin does in the app; its `message_thread_id`."""
        return int(
            self._create_forum_topic({"chat_id": chat_id, "name": name})["message_thread_id"]
        )

    def close_forum_topic(self, chat_id: int, thread_id: int) -> None:
        self._set_topic({"chat_id": chat_id, "message_thread_id": thread_id}, "closed")

    def reopen_forum_topic(self, chat_id: int, thread_id: int) -> None:
        self._set_topic({"chat_id": chat_id, "message_thread_id": thread_id}, "open")

    def delete_forum_topic(self, chat_id: int, thread_id: int) -> None:
        """Delete the topic and every message in it, as Telegram does."""
        self._set_topic({"chat_id": chat_id, "message_thread_id": thread_id}, "deleted")

    def topic_state(self, chat_id: int, thread_id: int) -> TopicState | None:
        return self._chats.forum_topics.topics.get((chat_id, thread_id))

    # ------------------------------------------------------------------ methods

    def _forum(self, params: JSONDict) -> int:
        chat_id = chat_key(params.get("chat_id"))
        self._chats.find(chat_id)  # "chat not found" first, as Telegram
        if chat_id not in self._chats.forum_topics.forums:
            raise bad_request("the chat is not a forum")
        return chat_id

    def _create_forum_topic(self, params: JSONDict) -> JSONDict:
        chat_id = self._forum(params)
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise bad_request("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_TOO_LONG")
        color = int(params.get("icon_color") or ICON_COLORS[0])
        if color not in ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        created = {"name": name, "icon_color": color}
        service = self._chats.new_message(
            chat_id, self._chats.bot_user, forum_topic_created=created, is_topic_message=True
        )
        thread_id = int(service["message_id"])
        service["message_thread_id"] = thread_id
        self._chats.forum_topics.topics[(chat_id, thread_id)] = "open"
        return {"message_thread_id": thread_id, **created}

    def _set_topic(self, params: JSONDict, state: TopicState) -> bool:
        chat_id = self._forum(params)
        try:
            thread_id = int(params.get("message_thread_id") or 0)
        except (TypeError, ValueError):
            raise bad_request("message thread not found") from None
        topics = self._chats.forum_topics.topics
        current = topics.get((chat_id, thread_id))
        if current is None or current == "deleted":
            raise bad_request("message thread not found")
        if current == state:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topics[(chat_id, thread_id)] = state
        if state == "deleted":
            messages = self._chats.messages
            for key in [key for key in messages if key[0] == chat_id]:
                if messages[key].get("message_thread_id") == thread_id:
                    del messages[key]
        return True
