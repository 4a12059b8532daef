"""The bot's commands: /start, /help, /subscribe, /unsubscribe, /subscriptions, /latest, /sources.

Each callback is short: it parses what the user typed, asks storage through `news.ports.Storage`,
and answers with text from `handlers.render`. Whatever a user types gets an answer; a topic that
cannot be understood gets the reason, never silence or a crash.
"""

from __future__ import annotations

import logging
from html import escape

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import CommandHandler, ContextTypes, MessageHandler, filters

from handlers.common import (
    CommandCallbackHandler,
    Services,
    parse_or_explain,
    reader_texts,
    reply,
)
from handlers.i18n import Texts
from handlers.render import sources_message
from news.errors import N_
from news.reading import DEFAULT_LATEST, MAX_LATEST
from news.topics import MAX_TOPIC_LENGTH, MAX_TOPIC_TERMS

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 50

# The menu's entries: each command and what it does, translated when the menu is set.
COMMANDS = (
    ("latest", N_("Newest stories on a topic: /latest ukraine")),
    ("subscribe", N_("Get new stories on a topic pushed to you")),
    ("unsubscribe", N_("Stop a topic")),
    ("subscriptions", N_("Your topics")),
    ("sources", N_("The feeds the bot reads and how they are doing")),
    ("help", N_("How to use the bot")),
    ("start", N_("Start the bot")),
)


def welcome(texts: Texts) -> str:
    """/start's answer: what the bot does, in two examples."""
    return "\n\n".join(
        (
            "<b>" + texts._("Hello! I am a news bot.") + "</b>",
            texts._(
                "I read news feeds all day and send you the stories on the topics you follow, "
                "each one once, as it appears."
            ),
            "\n".join(
                (
                    "• " + texts._("/subscribe ukraine — get new Ukraine stories pushed here"),
                    "• " + texts._("/latest ukraine — the newest Ukraine stories right now"),
                    "• " + texts._("/help — everything I can do"),
                )
            ),
        )
    )


def help_text(texts: Texts) -> str:
    """/help's answer: every command, how events are shown, and the topic syntax."""
    _ = texts._
    commands = "\n".join(
        (
            _("/subscribe <i>topic</i> — push every new story on the topic to this chat"),
            _("/unsubscribe <i>topic</i> — stop pushing a topic"),
            _("/subscriptions — the topics this chat follows"),
            _(
                "/latest <i>topic</i> [<i>n</i>] — the newest stories on a topic ({default} by "
                "default, up to {most}); /latest alone lists the newest stories of all",
                default=DEFAULT_LATEST,
                most=MAX_LATEST,
            ),
            _("/sources — the feeds I read and how they are doing"),
            _("/pause and /resume — stop and restart pushes to this chat"),
            _(
                "/digest <i>HH:MM</i> — one daily digest instead of instant pushes (/digest off "
                "to undo); /timezone <i>Area/City</i> sets the time zone it is read in"
            ),
        )
    )
    topics = "\n".join(
        (
            "<b>" + _("Topics") + "</b>",
            "• " + _("<code>peace talks</code> — every word must appear (any order)"),
            "• " + _('<code>"peace talks"</code> — these words together, in this order'),
            "• "
            + _(
                "<code>ceasefire OR truce</code> — either one; OR joins the two words beside it: "
                "<code>gaza ceasefire OR truce</code> = gaza, and ceasefire or truce"
            ),
            "• "
            + _(
                '<code>ukraine -sports</code>, <code>ukraine -"world cup"</code> — leave those out'
            ),
            "• "
            + _(
                "<code>ukraine source:bbc</code> — only from sources whose name has “bbc”; "
                "<code>-source:bbc</code> leaves one out"
            ),
            "• "
            + _(
                "<code>source:bbc</code> alone — every story of that outlet; /sources shows "
                "each source's term"
            ),
            _(
                "Case, accents, punctuation and word endings do not matter, in English, German, "
                "French, Spanish, Russian and Ukrainian (<code>Україна</code> also finds "
                "“України”). A country also finds its people, its capital and its name in those "
                "languages: <code>ukraine</code> finds “Ukrainian”, “Kyiv”, “Україна”. Parentheses "
                "are not supported. At most {length} characters and {words} words.",
                length=MAX_TOPIC_LENGTH,
                words=MAX_TOPIC_TERMS,
            ),
        )
    )
    return "\n\n".join(
        (
            "<b>" + _("What I can do") + "</b>",
            commands,
            _(
                "When several outlets report one event, you get it once: the message names the "
                "others (“Also: BBC, DW +3”) and its <b>More</b> button shows the key points, the "
                "other outlets' headlines and related stories."
            ),
            topics,
            _("In groups, commands work with or without @botname."),
            _(
                "In any chat, type my @username and a topic (<code>@botname ukraine</code>) to "
                "pick one of the newest stories on it and send it there."
            ),
        )
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
        await reply(update, welcome(reader_texts(update)))

    async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await reply(update, help_text(reader_texts(update)))

    async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        texts = reader_texts(update)
        raw = " ".join(context.args or ())
        if not raw.strip():
            await reply(update, texts._("Which topic? For example: /subscribe ukraine"))
            return
        if (topic := await parse_or_explain(update, raw, texts)) is None:
            return
        chat_id = await remember_chat(update)
        if chat_id is None:
            return
        existing = await storage.subscriptions(chat_id)
        if len(existing) >= MAX_SUBSCRIPTIONS and topic.text not in {s.topic for s in existing}:
            await reply(
                update,
                texts.ngettext(
                    "This chat follows {count} topic, the most I keep. /unsubscribe one first.",
                    "This chat follows {count} topics, the most I keep. /unsubscribe one first.",
                    len(existing),
                ),
            )
            return
        shown = escape(topic.text)
        if await storage.subscribe(chat_id, topic.text, now=services.clock()):
            # Pushes are read by the chat, not by one person: they come in the language of
            # whoever subscribed it last.
            await storage.set_language(chat_id, texts.language)
            await reply(
                update,
                texts._(
                    "Subscribed to: <b>{topic}</b>\nNew stories on it will be sent here as they "
                    "appear. For what is already out: /latest {topic}",
                    topic=shown,
                ),
            )
        else:
            await reply(update, texts._("You already follow <b>{topic}</b>.", topic=shown))

    async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        texts = reader_texts(update)
        raw = " ".join(context.args or ())
        current = [s.topic for s in await storage.subscriptions(chat.id)]
        listing = ", ".join(escape(t) for t in current)
        if not raw.strip():
            hint = (
                texts._("Your topics: {topics}", topics=listing)
                if current
                else texts._("You follow no topics.")
            )
            await reply(
                update, texts._("Which topic? For example: /unsubscribe ukraine") + "\n" + hint
            )
            return
        if (topic := await parse_or_explain(update, raw, texts)) is None:
            return
        shown = escape(topic.text)
        if await storage.unsubscribe(chat.id, topic.text):
            await reply(update, texts._("Unsubscribed from: <b>{topic}</b>", topic=shown))
        elif current:
            await reply(
                update,
                texts._(
                    "You do not follow <b>{topic}</b>. Your topics: {topics}",
                    topic=shown,
                    topics=listing,
                ),
            )
        else:
            await reply(
                update,
                texts._("You do not follow <b>{topic}</b>. You follow no topics.", topic=shown),
            )

    async def list_subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        texts = reader_texts(update)
        current = await storage.subscriptions(chat.id)
        if not current:
            await reply(update, texts._("This chat follows no topics yet. Try /subscribe ukraine"))
            return
        lines = [f"• {escape(s.topic)}" for s in current]
        await reply(update, "<b>" + texts._("Your topics") + "</b>\n" + "\n".join(lines))

    async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        texts = reader_texts(update)
        user = update.effective_user
        admin = user is not None and user.id in services.admins
        listed = await storage.list_sources()
        for text in sources_message(listed, services.clock(), texts=texts, admin=admin):
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
        await reply(
            update,
            reader_texts(update)._("I do not know that command. /help lists what I can do."),
        )


def unknown_command_handler() -> CommandCallbackHandler:
    """Registered last: any other command in a private chat gets a pointer to /help."""
    return MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, _unknown)
