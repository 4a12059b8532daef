"""Who may change what a chat receives: a group's admins, and a channel's posting admins.

In groups and supergroups the commands that change what the chat receives (`admins_only`)
answer only an administrator or the creator, or an anonymous admin (a message whose
`sender_chat` is the group itself); anyone else gets one line saying so. Private chats and
channel posts need no check: a private chat is its person's, and only admins can post in a
channel.

A channel is managed from a private chat by naming it first: `/subscribe @channel ukraine` or
`/subscribe -1001234567890 ukraine` (`command_target`). The bot then checks, through
`getChat` and `getChatMember`, that the channel exists, that the user is its creator or an
administrator with the right to post messages (`can_post_messages`: an administrator who may
only, say, delete messages must not choose what the channel posts), and that the bot itself is
an administrator allowed to post there, and says plainly which is missing. A channel's
/settings buttons ask the same of whoever presses them.

What a user is in a chat is asked of Telegram once per `ADMIN_CHECK_TTL` and (chat, user)
(`AdminChecks`): every Bot API call counts against the bot's limits, and a group that sends
/subscribe three times in a row should cost one call, not three.

A shared helper like `handlers.common`: the command modules import it, it imports none of them.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from telegram import Bot, ChatMemberAdministrator, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from handlers.common import CommandCallback, reader_texts, reply, thread_of
from news.errors import N_

logger = logging.getLogger(__name__)

#: How long the answer to "is this user an admin here?" is trusted. A demoted admin keeps their
#: say this long at most, and a group pays one getChatMember per person per this long however
#: many commands they send.
ADMIN_CHECK_TTL = timedelta(minutes=5)
#: Answers kept at most (the least recently used go first): a few hundred bytes each.
ADMIN_CHECK_ENTRIES = 10_000

# What a channel's administrator without the right to post is told, whatever they tried.
# Translators: {channel} is the channel's @username, or its title when it has none.
NO_RIGHT_TO_POST = N_("You need the right to post messages in {channel} to manage its news.")

_ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
_GROUPS = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
# A public channel's username (Telegram: 5-32 letters, digits and underscores) or a -100… id.
_CHANNEL = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-100\d{6,16})$")


@dataclass(frozen=True, slots=True)
class Standing:
    """What Telegram says a user is in a chat, as far as changing what it receives goes."""

    admin: bool  # an administrator or the creator
    posts: bool  # the creator, or an administrator allowed to post messages (in a channel)


_NOBODY = Standing(admin=False, posts=False)


class AdminChecks:
    """Whether a user is an administrator (or the creator) of a chat, and whether they may post
    in it, asked of Telegram at most once per `ttl` and (chat, user), remembering at most
    `max_entries` answers."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        ttl: timedelta = ADMIN_CHECK_TTL,
        max_entries: int = ADMIN_CHECK_ENTRIES,
    ) -> None:
        self._clock = clock
        self._ttl, self._max_entries = ttl, max_entries
        self._kept: OrderedDict[tuple[int, int], tuple[Standing, datetime]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """Raises `TelegramError` when Telegram could not be asked (not cached)."""
        return (await self.standing(bot, chat_id, user_id)).admin

    async def standing(self, bot: Bot, chat_id: int, user_id: int) -> Standing:
        """What the user is in the chat. Raises `TelegramError` when Telegram could not be asked
        (not cached)."""
        key = (chat_id, user_id)
        now = self._clock()
        kept = self._kept.get(key)
        if kept is not None and now - kept[1] < self._ttl:
            self._kept.move_to_end(key)
            return kept[0]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
            found = Standing(
                admin=member.status in _ADMIN_STATUSES,
                posts=member.status == ChatMemberStatus.OWNER
                or (isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)),
            )
        except BadRequest as error:
            if "user not found" not in error.message.lower():
                raise
            found = _NOBODY  # Telegram does not know them there: not an admin
        self._kept[key] = (found, now)
        self._kept.move_to_end(key)
        while len(self._kept) > self._max_entries:
            self._kept.popitem(last=False)
        return found


async def _could_not_check(update: Update, chat_id: int, error: TelegramError) -> None:
    logger.warning("could not check an admin of chat %s: %s", chat_id, type(error).__name__)
    await reply(
        update,
        reader_texts(update)._(
            "I could not check who may change this: Telegram did not answer. "
            "Please try again in a minute."
        ),
    )


async def may_change_chat(
    update: Update, context: ContextTypes.DEFAULT_TYPE, checks: AdminChecks
) -> bool:
    """Whether the sender may change what this chat receives; when not, they have been told."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or chat.type not in _GROUPS:
        return True
    if (
        message is not None
        and message.sender_chat is not None
        and message.sender_chat.id == chat.id
    ):
        return True  # an anonymous admin, writing as the group
    user = update.effective_user
    if user is not None and (message is None or message.sender_chat is None):
        try:
            if await checks.is_admin(context.bot, chat.id, user.id):
                return True
        except TelegramError as error:
            await _could_not_check(update, chat.id, error)
            return False
    await reply(update, reader_texts(update)._("Only this group's admins can change this."))
    return False


def admins_only(checks: AdminChecks, callback: CommandCallback) -> CommandCallback:
    """`callback`, answering in groups only their admins (see `may_change_chat`)."""

    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await may_change_chat(update, context, checks):
            await callback(update, context)

    return guarded


@dataclass(frozen=True, slots=True)
class Target:
    """The chat a command changes: the one it was sent in, or a channel it names.

    `channel` is how replies name a channel (HTML, "@name" or its title); None for the chat
    the command came from. `thread_id` is the forum topic the command was sent in (0: the chat
    itself): subscriptions made there push into that topic.
    """

    chat_id: int
    kind: str
    title: str | None
    channel: str | None = None
    thread_id: int = 0


def names_channel(word: str) -> bool:
    """Whether a command's first word names a channel (`@name` or a `-100…` id)."""
    return _CHANNEL.match(word) is not None


async def command_target(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    checks: AdminChecks,
    words: Sequence[str],
) -> tuple[Target, list[str]] | None:
    """The chat a command changes and the words after it; None after telling the user why not.

    In a private chat a first word naming a channel makes the channel the target, once checked
    (see the module's docstring); otherwise the target is the chat the command came from.
    """
    chat = update.effective_chat
    if chat is None:
        return None
    if chat.type == ChatType.PRIVATE and words and names_channel(words[0]):
        channel = await _checked_channel(update, context, checks, words[0])
        return None if channel is None else (channel, list(words[1:]))
    title = chat.title or chat.full_name or chat.username
    thread = thread_of(update.effective_message)
    return Target(chat.id, chat.type, title, thread_id=thread), list(words)


async def _checked_channel(
    update: Update, context: ContextTypes.DEFAULT_TYPE, checks: AdminChecks, word: str
) -> Target | None:
    texts = reader_texts(update)
    user = update.effective_user
    if user is None:
        return None
    bot = context.bot
    try:
        found = await bot.get_chat(word if word.startswith("@") else int(word))
    except (BadRequest, Forbidden):
        await reply(
            update,
            # Translators: {channel} is what the user typed to name a channel ("@news").
            texts._(
                "I cannot find the channel {channel}. Add me to it as an administrator "
                "allowed to post messages, then try again.",
                channel=escape(word),
            ),
        )
        return None
    except TelegramError as error:
        await _could_not_check(update, 0, error)
        return None
    name = f"@{found.username}" if found.username else escape(found.title or word)
    if found.type != ChatType.CHANNEL:
        # Translators: {channel} is the chat's @username, or its title when it has none.
        await reply(update, texts._("{channel} is not a channel.", channel=name))
        return None
    try:
        standing = await checks.standing(bot, found.id, user.id)
        if not standing.admin:
            await reply(
                update,
                # Translators: {channel} is the channel's @username, or its title when it has none.
                texts._(
                    "You are not an administrator of {channel}: only its admins can change "
                    "what it receives.",
                    channel=name,
                ),
            )
            return None
        if not standing.posts:
            await reply(update, texts._(NO_RIGHT_TO_POST, channel=name))
            return None
        me = await bot.get_chat_member(found.id, bot.id)
    except TelegramError as error:
        await _could_not_check(update, found.id, error)
        return None
    if not (isinstance(me, ChatMemberAdministrator) and me.can_post_messages):
        await reply(
            update,
            # Translators: {channel} is the channel's @username, or its title when it has none.
            texts._(
                "I may not post in {channel}. Add me to it as an administrator with the right "
                "to post messages, then try again.",
                channel=name,
            ),
        )
        return None
    return Target(found.id, ChatType.CHANNEL, found.title, channel=name)
