"""User input for the bot: queued updates, `getUpdates` long polling and callback queries.

A test queues what a user does with `inject_message` (a text message or command, in a private
chat or a group, from a user or from an anonymous admin, whose message's `sender_chat` is the
group itself, or in a forum topic: `thread_id`, see `forums`), `inject_channel_post` (a post in
a channel: no `from`, the channel as `sender_chat`), `inject_callback_query` (a tap on an inline
button of the bot's message) and `inject_inline_query` (`@bot words` typed in any chat); the bot
receives them through `getUpdates` as from Telegram:

* `offset` confirms and drops older updates (negative offsets too), `limit` caps a batch,
  `allowed_updates` filters them and is remembered between calls;
* `timeout` holds the poll until an update arrives (no wall-clock sleeping: the fake's change
  signal wakes it), and a second `getUpdates` ends a waiting one with `409 Conflict`, as when
  two bot instances poll;
* `answerCallbackQuery` is accepted only for the query ids injected here;
* `answerInlineQuery` too, checked like Telegram: at most 50 results, ids unique and at most
  64 bytes, each an `InlineQueryResultArticle` with a title and an `input_message_content`
  whose text obeys a message's rules (`methods.rendered_text`: HTML, 1–4096 characters); each
  accepted answer is kept in `inline_answers` by query id;
* `setWebhook` takes only an HTTPS URL and keeps its `secret_token` as `webhook_secret` (a test
  then posts queued updates to the bot's webhook server, see `tests.fakes.webhook`);
  `deleteWebhook` clears it; both drop queued updates when asked (`drop_pending_updates`).
"""

from __future__ import annotations

import asyncio
import itertools
import zlib

from ..loopback import Changes
from .chats import ChatDirectory
from .methods import rendered_text
from .protocol import ApiError, JSONDict, bad_request
from .text_rules import bot_command_entities

DEFAULT_GROUP_USER_ID = 1001
# The user Telegram puts in `from` of an anonymous admin's message.
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_RESULTS = 50
MAX_INLINE_RESULT_ID_BYTES = 64
MAX_INLINE_QUERY_LENGTH = 256
MAX_NEXT_OFFSET_BYTES = 64


class UpdateQueue:
    """The updates waiting for the bot, and the `getUpdates` and `answerCallbackQuery` methods."""

    _chats: ChatDirectory
    _changes: Changes
    stopping: bool

    def __init__(self) -> None:
        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._callback_ids = itertools.count(4_000_000_000_000_001)
        self._open_callback_queries: set[str] = set()
        self._inline_ids = itertools.count(5_000_000_000_000_001)
        self._open_inline_queries: set[str] = set()
        self.inline_answers: dict[str, JSONDict] = {}
        """The accepted `answerInlineQuery` parameters, by inline query id."""
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        """The `secret_token` of the webhook set (sent with each update posted to it)."""

    @property
    def pending_updates(self) -> list[JSONDict]:
        """The updates queued and not yet confirmed by the bot (a webhook test posts them)."""
        return list(self._updates)

    # ------------------------------------------------------------------ injecting input

    def inject_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        username: str = "alice",
        first_name: str = "Alice",
        language_code: str = "en",
        anonymous_admin: bool = False,
        thread_id: int | None = None,
    ) -> int:
        """Queue a text message from a user, as Telegram delivers it; return the update_id.

        Private chats have the user's (positive) id; groups and supergroups negative ids.
        Commands get their `bot_command` entities as real Telegram sends them. The user's
        `language_code` is the language of their Telegram app ("uk", "pt-br"). An
        `anonymous_admin` writes on behalf of the group: `from` is GroupAnonymousBot and
        `sender_chat` the group. A `thread_id` writes in that topic of a forum (`add_forum`,
        `create_forum_topic`); without one a message in a forum is in its General topic.
        """
        if chat_type == "private":
            if chat_id <= 0:
                raise ValueError("a private chat has the user's positive id")
            if user_id is not None and user_id != chat_id:
                raise ValueError("in a private chat the user id is the chat id")
            user_id = chat_id
            chat: JSONDict = {
                "id": chat_id,
                "type": "private",
                "first_name": first_name,
                "username": username,
            }
        elif chat_type in ("group", "supergroup"):
            if chat_id >= 0:
                raise ValueError("group and supergroup chat ids are negative")
            known = self._chats.chats.get(chat_id)
            if known is not None and known.get("is_forum"):
                chat = known  # a forum stays one
            else:
                chat = {"id": chat_id, "type": chat_type, "title": "Test Group"}
        else:
            raise ValueError(f"unsupported chat_type for a user message: {chat_type!r}")
        self._chats.chats[chat_id] = chat
        topic: JSONDict = {}
        if thread_id is not None:
            if self._chats.forum_topics.topics.get((chat_id, thread_id)) in (None, "deleted"):
                raise ValueError("write in a topic of a forum (add_forum, create_forum_topic)")
            topic = {"message_thread_id": thread_id, "is_topic_message": True}
        if anonymous_admin:
            if chat_type == "private":
                raise ValueError("an anonymous admin writes in a group")
            message = self._chats.new_message(
                chat_id, GROUP_ANONYMOUS_BOT, text=text, sender_chat=chat, **topic
            )
        else:
            user = self._user(
                DEFAULT_GROUP_USER_ID if user_id is None else user_id,
                first_name,
                username,
                language_code,
            )
            message = self._chats.new_message(chat_id, user, text=text, **topic)
        return self._queue_text(message, "message")

    def inject_channel_post(self, chat_id: int, text: str) -> int:
        """Queue a post in a channel added with `add_channel`; return the update_id.

        As on Telegram, a channel post has no `from`: its `sender_chat` is the channel.
        """
        channel = self._chats.chats.get(chat_id)
        if channel is None or channel["type"] != "channel":
            raise ValueError("add the channel first (add_channel)")
        message = self._chats.new_message(chat_id, {}, text=text, sender_chat=channel)
        del message["from"]
        return self._queue_text(message, "channel_post")

    def _queue_text(self, message: JSONDict, kind: str) -> int:
        entities = bot_command_entities(str(message["text"]))
        if entities:
            message["entities"] = entities
        return self._queue({kind: message})

    def inject_callback_query(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
    ) -> int:
        """Queue a tap on an inline button of the bot's message; return the update_id."""
        message = self._chats.bot_message(chat_id, message_id)
        if user_id is None:
            user_id = chat_id if chat_id > 0 else DEFAULT_GROUP_USER_ID
        chat = self._chats.chats.get(chat_id, {}) if chat_id > 0 else {}
        user = self._user(user_id, chat.get("first_name", "Alice"), chat.get("username", "alice"))
        query_id = str(next(self._callback_ids))
        self._open_callback_queries.add(query_id)
        callback_query = {
            "id": query_id,
            "from": user,
            "message": dict(message),
            "chat_instance": str(zlib.crc32(str(chat_id).encode()) + 10**12),
            "data": data,
        }
        return self._queue({"callback_query": callback_query})

    def inject_inline_query(
        self,
        user_id: int,
        query: str,
        *,
        offset: str = "",
        language_code: str = "en",
        chat_type: str = "private",
    ) -> str:
        """Queue `@bot <query>` typed by a user (in a chat of `chat_type`); return the query id,
        which `answerInlineQuery` must name."""
        if len(query) > MAX_INLINE_QUERY_LENGTH:
            raise ValueError("Telegram cuts inline queries at 256 characters")
        query_id = str(next(self._inline_ids))
        self._open_inline_queries.add(query_id)
        inline_query = {
            "id": query_id,
            "from": self._user(user_id, "Alice", "alice", language_code),
            "query": query,
            "offset": offset,
            "chat_type": chat_type,
        }
        self._queue({"inline_query": inline_query})
        return query_id

    @staticmethod
    def _user(user_id: int, first_name: str, username: str, language_code: str = "en") -> JSONDict:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": username,
            "language_code": language_code,
        }

    def _queue(self, update: JSONDict) -> int:
        """Queue an update under the next `update_id` and return that id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._changes.notify()
        return update_id

    # ------------------------------------------------------------------ methods

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed]
        self._confirm(offset)

        self._poll_generation += 1
        generation = self._poll_generation
        self._changes.notify()  # terminate an older long poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that "
                    "only one bot instance is running",
                )
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or self.stopping or remaining <= 0:
                return batch
            try:
                async with asyncio.timeout(remaining):
                    await self._changes.wait()
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
            return not allowed or any(kind in allowed for kind in update)

        return [update for update in self._updates if wanted(update)][:limit]

    def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url", ""))
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        self.webhook_secret = str(params["secret_token"]) if params.get("secret_token") else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        if str(params.get("callback_query_id", "")) not in self._open_callback_queries:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text", ""))) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        return True

    def _answer_inline_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("inline_query_id", ""))
        if query_id not in self._open_inline_queries:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        results = params.get("results")
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            _check_inline_result(result, seen)
        if len(str(params.get("next_offset", "")).encode()) > MAX_NEXT_OFFSET_BYTES:
            raise bad_request("NEXT_OFFSET_INVALID")
        self._open_inline_queries.discard(query_id)
        self.inline_answers[query_id] = params
        return True


def _check_inline_result(result: object, seen: set[str]) -> None:
    """One `InlineQueryResultArticle`, checked as Telegram checks it; its id joins `seen`."""
    if not isinstance(result, dict):
        raise bad_request("can't parse inline query result")
    result_id = str(result.get("id", ""))
    if not result_id or len(result_id.encode()) > MAX_INLINE_RESULT_ID_BYTES:
        raise bad_request("RESULT_ID_INVALID")
    if result_id in seen:
        raise bad_request("RESULT_ID_DUPLICATE")
    seen.add(result_id)
    if result.get("type") != "article":
        raise bad_request("RESULT_TYPE_INVALID")
    if not str(result.get("title", "")).strip():
        raise bad_request("RESULT_TITLE_EMPTY")
    content = result.get("input_message_content")
    if not isinstance(content, dict) or "message_text" not in content:
        raise bad_request("MESSAGE_EMPTY")
    rendered_text(str(content["message_text"]), content.get("parse_mode"))
