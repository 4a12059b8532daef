"""The bot's commands: /start, /help, /subscribe, /unsubscribe, /subscriptions, /latest, /sources.

Each callback is short: it parses what the user typed, asks storage through `news.ports.Storage`,
and answers with text from `handlers.render`. Whatever a user types gets an answer; a topic that
cannot be understood gets the reason, never silence or a crash.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from handlers.render import sources_message
from news.errors import TopicError
from news.model import ChatSettings
from news.ports import Storage
from news.topics import Topic, parse_topic

logger = logging.getLogger(__name__)

DEFAULT_LATEST = 5
MAX_LATEST = 20
MAX_SUBSCRIPTIONS = 50

COMMANDS = (
    BotCommand("latest", "Newest stories on a topic: /latest ukraine"),
    BotCommand("subscribe", "Get new stories on a topic pushed to you"),
    BotCommand("unsubscribe", "Stop a topic"),
    BotCommand("subscriptions", "Your topics"),
    BotCommand("sources", "The feeds the bot reads and how they are doing"),
    BotCommand("help", "How to use the bot"),
    BotCommand("start", "Start the bot"),
)

WELCOME = (
    "<b>Hello! I am a news bot.</b>\n\n"
    "I read news feeds all day and send you the stories on the topics you follow, "
    "each one once, as it appears.\n\n"
    "• /subscribe ukraine — get new Ukraine stories pushed here\n"
    "• /latest ukraine — the newest Ukraine stories right now\n"
    "• /help — everything I can do"
)

HELP = (
    "<b>What I can do</b>\n\n"
    "/subscribe <i>topic</i> — push every new story on the topic to this chat\n"
    "/unsubscribe <i>topic</i> — stop pushing a topic\n"
    "/subscriptions — the topics this chat follows\n"
    f"/latest <i>topic</i> [<i>n</i>] — the newest stories on a topic ({DEFAULT_LATEST} by "
    f"default, up to {MAX_LATEST}); /latest alone lists the newest stories of all\n"
    "/sources — the feeds I read and how they are doing\n"
    "/pause and /resume — stop and restart pushes to this chat\n"
    "/digest <i>HH:MM</i> — one daily digest instead of instant pushes (/digest off to undo); "
    "/timezone <i>Area/City</i> sets the time zone it is read in\n\n"
    "When several outlets report one event, you get it once: the message names the others "
    "(“Also: BBC, DW +3”) and its <b>More</b> button shows the key points, the other "
    "outlets' headlines and related stories.\n\n"
    "<b>Topics</b>\n"
    "• <code>peace talks</code> — every word must appear (any order)\n"
    '• <code>"peace talks"</code> — these words together, in this order\n'
    "• <code>ceasefire OR truce</code> — either one; OR joins the two words beside it: "
    "<code>gaza ceasefire OR truce</code> = gaza, and ceasefire or truce\n"
    '• <code>ukraine -sports</code>, <code>ukraine -"world cup"</code> — leave those out\n'
    "• <code>ukraine source:bbc</code> — only from sources whose name has “bbc”; "
    "<code>-source:bbc</code> leaves one out\n"
    "Case, accents, punctuation and word endings do not matter, in English, German, French, "
    "Spanish, Russian and Ukrainian (<code>Україна</code> also finds “України”). A country also "
    "finds its people, its capital and its name in those languages: <code>ukraine</code> finds "
    "“Ukrainian”, “Kyiv”, “Україна”. Parentheses are not supported. At most 200 characters and "
    "20 words.\n\n"
    "In groups, commands work with or without @botname."
)


@dataclass(frozen=True, slots=True)
class Services:
    """What the command callbacks need, handed in by the composition root."""

    storage: Storage
    clock: Callable[[], datetime]
    admins: frozenset[int] = frozenset()
    # Called when a chat's digest time or time zone changes, so its daily job can follow.
    schedule_digest: Callable[[ChatSettings], None] = lambda settings: None


async def parse_or_explain(update: Update, raw: str) -> Topic | None:
    """The parsed topic, or None after telling the user what is wrong with it."""
    try:
        return parse_topic(raw)
    except TopicError as error:
        await reply(update, escape(str(error)))
        return None


def split_count(words: Sequence[str]) -> tuple[str, int | None]:
    """`/latest ukraine 10` → ("ukraine", 10); a lone number is a topic, not a count."""
    if len(words) >= 2 and words[-1].isdigit() and len(words[-1]) <= 4:
        return " ".join(words[:-1]), int(words[-1])
    return " ".join(words), None


async def reply(update: Update, text: str) -> None:
    """Answer in the chat the update came from, as HTML without link previews.

    The request goes through the bot's `handlers.gateway.Gateway` at reply priority: ahead of
    pushes, and sent again after any 429 for as long as Telegram asks to wait.
    """
    message = update.effective_message
    if message is not None:
        await message.reply_text(
            text,
            parse_mode=ParseMode.HTML,
            do_quote=False,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


CommandCallbackHandler = BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]


def build_command_handlers(services: Services) -> list[CommandCallbackHandler]:
    """The handlers in the order they are tried."""
    storage = services.storage

    async def remember_chat(update: Update) -> int | None:
        chat = update.effective_chat
        if chat is None:
            return None
        title = chat.title or chat.full_name or chat.username
        await storage.upsert_chat(chat.id, kind=chat.type, title=title, now=services.clock())
        return chat.id

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await remember_chat(update)
        await reply(update, WELCOME)

    async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await reply(update, HELP)

    async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raw = " ".join(context.args or ())
        if not raw.strip():
            await reply(update, "Which topic? For example: /subscribe ukraine")
            return
        if (topic := await parse_or_explain(update, raw)) is None:
            return
        chat_id = await remember_chat(update)
        if chat_id is None:
            return
        existing = await storage.subscriptions(chat_id)
        if len(existing) >= MAX_SUBSCRIPTIONS and topic.text not in {s.topic for s in existing}:
            await reply(
                update,
                f"This chat follows {len(existing)} topics, the most I keep. "
                "/unsubscribe one first.",
            )
            return
        if await storage.subscribe(chat_id, topic.text, now=services.clock()):
            await reply(
                update,
                f"Subscribed to: <b>{escape(topic.text)}</b>\n"
                "New stories on it will be sent here as they appear. "
                f"For what is already out: /latest {escape(topic.text)}",
            )
        else:
            await reply(update, f"You already follow <b>{escape(topic.text)}</b>.")

    async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        raw = " ".join(context.args or ())
        current = [s.topic for s in await storage.subscriptions(chat.id)]
        if not raw.strip():
            hint = (
                "Your topics: " + ", ".join(escape(t) for t in current)
                if current
                else "You follow no topics."
            )
            await reply(update, f"Which topic? For example: /unsubscribe ukraine\n{hint}")
            return
        if (topic := await parse_or_explain(update, raw)) is None:
            return
        if await storage.unsubscribe(chat.id, topic.text):
            await reply(update, f"Unsubscribed from: <b>{escape(topic.text)}</b>")
        else:
            listing = ", ".join(escape(t) for t in current) if current else "none"
            await reply(
                update,
                f"You do not follow <b>{escape(topic.text)}</b>. Your topics: {listing}",
            )

    async def list_subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        current = await storage.subscriptions(chat.id)
        if not current:
            await reply(update, "This chat follows no topics yet. Try /subscribe ukraine")
            return
        lines = [f"• {escape(s.topic)}" for s in current]
        await reply(update, "<b>Your topics</b>\n" + "\n".join(lines))

    async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        for text in sources_message(await storage.list_sources(), services.clock()):
            await reply(update, text)

    return [
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("subscribe", subscribe),
        CommandHandler("unsubscribe", unsubscribe),
        CommandHandler("subscriptions", list_subscriptions),
        CommandHandler("sources", sources),
    ]


async def _unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE:
        await reply(update, "I do not know that command. /help lists what I can do.")


def unknown_command_handler() -> CommandCallbackHandler:
    """Registered last: any other command in a private chat gets a pointer to /help."""
    return MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, _unknown)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure first, then tell the user something went wrong instead of going silent.

    The log names the update and its chat by id only: users' names and what they wrote stay
    out of it, and so does the error's message, which may quote them (a database error shows
    the statement's parameters). The Bot API being unreachable is one line; anything else is
    a bug and gets its traceback (the frames, without the message).
    """
    update_id = update.update_id if isinstance(update, Update) else None
    chat = update.effective_chat if isinstance(update, Update) else None
    error = context.error
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        logger.warning(
            "%s: Bot API unavailable (%s)",
            "getting updates"
            if update is None
            else f"update {update_id} in chat {chat.id if chat else None}",
            type(error).__name__,
        )
    else:
        frames = "".join(traceback.format_tb(error.__traceback__)) if error else ""
        logger.error(
            "update %s in chat %s failed: %s\n%s",
            update_id,
            chat.id if chat else None,
            type(error).__name__,
            frames.rstrip(),
        )
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await reply(update, "Sorry, something went wrong on my side. Please try again.")
        except TelegramError as failure:
            logger.warning(
                "could not tell chat %s about the failure: %s", chat.id if chat else None, failure
            )
