"""Who may do what in a chat: `getChat`, `getChatMember` and the tests' side of them.

A test adds a channel (`add_channel`) and says who is what in a chat (`set_chat_member`: the
statuses "creator", "administrator", "member" and "left", an administrator with its rights,
e.g. `can_post_messages=True` in a channel). The methods answer as Telegram does: a chat the bot
does not know is "Bad Request: chat not found", a user Telegram never saw "Bad Request: user not
found"; `getChat` takes a channel's `@username` too. Answers carry every field python-telegram-
bot requires of a `ChatFullInfo` and of each kind of `ChatMember`.
"""

from __future__ import annotations

from typing import Any

from .chats import ChatDirectory
from .protocol import JSONDict, bad_request
from .records import RecordedCall

MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left"})

# The rights of an administrator Telegram always states (False unless the test grants them).
_ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)
_CHANNEL_RIGHTS = ("can_post_messages", "can_edit_messages")


class ChatMembers:
    """The `getChat` and `getChatMember` methods over the chats the fake keeps."""

    _chats: ChatDirectory
    calls: list[RecordedCall]

    def _member_handlers(self) -> dict[str, Any]:
        return {"getChat": self._get_chat, "getChatMember": self._get_chat_member}

    # ------------------------------------------------------------------ the tests' side

    def add_channel(self, chat_id: int, *, username: str | None = None, title: str = "") -> None:
        """A channel Telegram knows, found by `chat_id` or `@username`; nobody is in it yet."""
        self._chats.add_channel(chat_id, username=username, title=title or "Test Channel")

    def set_chat_member(self, chat_id: int, user_id: int, status: str, **rights: bool) -> None:
        """Make `user_id` (a user who wrote to the bot, or the bot) `status` in the chat.

        `rights` are an administrator's (`can_post_messages=True`); any not given is False.
        """
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        member: JSONDict = {"status": status}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update({right: rights.pop(right, False) for right in _ADMIN_RIGHTS})
            if self._chats.chat(chat_id)["type"] == "channel":
                member.update({right: rights.pop(right, False) for right in _CHANNEL_RIGHTS})
        if rights:
            raise ValueError(f"rights {sorted(rights)} do not apply to {status!r} here")
        self._chats.members[(chat_id, user_id)] = member

    def chat_member_calls(self, chat_id: int, user_id: int) -> int:
        """How many `getChatMember` calls asked about `user_id` in the chat (failed ones too)."""
        return sum(
            1
            for call in self.calls
            if call.method == "getChatMember"
            and str(call.params.get("chat_id")) == str(chat_id)
            and str(call.params.get("user_id")) == str(user_id)
        )

    # ------------------------------------------------------------------ methods

    def _get_chat(self, params: JSONDict) -> JSONDict:
        chat = self._chats.find(params.get("chat_id"))
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._chats.find(params.get("chat_id"))
        user_id = params.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise bad_request("invalid user_id specified")
        return self._chats.member(int(chat["id"]), user_id)
