"""The bot's commands: /start, /help, /subscribe, /unsubscribe, /subscriptions, /latest, /sources.

Each callback is short: it parses what the user typed, asks storage through `news.ports.Storage`,
and answers with text from `handlers.render`. Whatever a user types gets an answer; a topic that
cannot be understood gets the reason, never silence or a crash.
"""

from __future__ import annotations

import logging
from html import escape

from telegram import BotCommand, Update
from telegram.constants import ChatType
from telegram.ext import CommandHandler, ContextTypes, MessageHandler, filters

from handlers.common import CommandCallbackHandler, Services, parse_or_explain, reply
from handlers.render import sources_message
from news.reading import DEFAULT_LATEST, MAX_LATEST

logger = logging.getLogger(__name__)

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
