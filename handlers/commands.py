"""The bot's commands: /start, /help, /subscribe, /unsubscribe, /subscriptions, /latest, /sources.

Each callback is short: it parses what the user typed, calls the use case (`news.curation` to
subscribe or unsubscribe, the storage ports `news.ports.Chats` and `.Sources` to read), and
answers with text from `handlers.render`. Whatever a user types gets an answer; a topic that
cannot be understood gets the reason, never silence or a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from html import escape

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes, MessageHandler, filters

from handlers.common import (
    CommandCallbackHandler,
    Services,
    command_handler,
    parse_or_explain,
    reader_texts,
    reply,
)
from handlers.i18n import Texts
from handlers.permissions import (
    AdminChecks,
    Target,
    admins_only,
    command_target,
    names_channel,
)
from handlers.render import sources_message
from news import curation
from news.curation import Changed, ChatPlace, TooManyTopics, Unchanged
from news.errors import N_
from news.ports import Chats, Sources
from news.reading import DEFAULT_LATEST, MAX_LATEST
from news.topics import MAX_TOPIC_LENGTH, MAX_TOPIC_TERMS

logger = logging.getLogger(__name__)

# The menu's entries: each command and what it does, translated when the menu is set.
COMMANDS = (
    # Translators: the command menu beside the message box: each command and what it does. The
    # example topic may be in your language (it must find stories: /latest україна).
    ("latest", N_("Newest stories on a topic: /latest ukraine")),
    ("subscribe", N_("Get new stories on a topic pushed to you")),
    # Translators: the menu's entry for /unsubscribe: stop following a topic.
    ("unsubscribe", N_("Stop a topic")),
    # Translators: the menu's entry for /subscriptions: the topics this chat follows.
    ("subscriptions", N_("Your topics")),
    ("sources", N_("The feeds the bot reads and how they are doing")),
    ("help", N_("How to use the bot")),
    # Translators: the menu's entry for /start.
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
            # Translators: {default} is how many stories /latest lists when no number is given
            # (5), {most} the most it lists at once (20).
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
            _(
                "/settings — link previews, silent pushes, quiet hours and the language I "
                "write in here"
            ),
        )
    )
    topics = "\n".join(
        (
            # Translators: a heading of /help, over how to write a topic (a search).
            "<b>" + _("Topics") + "</b>",
            # Translators: the examples of topics in the lines below may be in your language;
            # each must find stories in a news bot reading your language's outlets.
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
            # Translators: "bbc" may be an outlet of your language that the bundled sources
            # (bot/default_sources.txt) read, as long as its name has that word: "tagesschau",
            # "rfi"; the BBC has services in Ukrainian, Russian and Spanish.
            + _(
                "<code>ukraine source:bbc</code> — only from sources whose name has “bbc”; "
                "<code>-source:bbc</code> leaves one out"
            ),
            "• "
            + _(
                "<code>source:bbc</code> alone — every story of that outlet; /sources shows "
                "each source's term"
            ),
            # Translators: {length} is the most characters a topic may have (200), {words} the
            # most words (20).
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
                "In groups, only the group's admins can change what it receives. To run a "
                "channel's news, add me to it as an administrator allowed to post messages, "
                "then send me here: <code>/subscribe @yourchannel ukraine</code>, "
                "<code>/unsubscribe @yourchannel ukraine</code>, "
                "<code>/subscriptions @yourchannel</code>."
            ),
            _(
                "In a group with forum topics, send /subscribe inside a forum topic: its news "
                "arrive in that forum topic, and each forum topic keeps its own list."
            ),
            _(
                "In any chat, type my @username and a topic (<code>@botname ukraine</code>) to "
                "pick one of the newest stories on it and send it there."
            ),
        )
    )


def build_command_handlers(services: Services, checks: AdminChecks) -> list[CommandCallbackHandler]:
    """The handlers in the order they are tried; `checks` answers who may change a group."""
    chats: Chats = services.storage
    feeds: Sources = services.storage

    async def remember_chat(update: Update) -> int | None:
        chat = update.effective_chat
        if chat is None:
            return None
        title = chat.title or chat.full_name or chat.username
        await chats.upsert_chat(chat.id, kind=chat.type, title=title, now=services.clock())
        return chat.id

    async def topic_command(
        update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> tuple[Texts, Target, str] | None:
        """The texts, target chat and topic words of /subscribe or /unsubscribe; None after
        `command_target` told the user why the command cannot change that chat."""
        texts = reader_texts(update)
        if (found := await command_target(update, context, checks, context.args or ())) is None:
            return None
        target, words = found
        return texts, target, " ".join(words)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await remember_chat(update)
        await reply(update, welcome(reader_texts(update)))

    async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await reply(update, help_text(reader_texts(update)))

    async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (command := await topic_command(update, context)) is None:
            return
        texts, target, raw = command
        if not raw.strip():
            await reply(update, texts._("Which topic? For example: /subscribe ukraine"))
            return
        if (topic := await parse_or_explain(update, raw, texts)) is None:
            return
        place = ChatPlace(target.chat_id, target.kind, target.title, target.thread_id)
        result = await curation.subscribe(
            chats, place, topic, language=texts.language, now=services.clock()
        )
        channel = target.channel
        match result:
            case TooManyTopics(count):
                # Translators: {count} is how many topics the chat follows, the most it may.
                said = texts.ngettext(
                    "This chat follows {count} topic, the most I keep. /unsubscribe one first.",
                    "This chat follows {count} topics, the most I keep. /unsubscribe one first.",
                    count,
                )
            case Changed(topic=text) if channel is not None:
                # Translators: {channel} is the channel's @username (or its title); {topic} is
                # the topic as the user typed it, in any language (do not decline it: write it
                # where a name fits as it is, e.g. after "the topic").
                said = texts._(
                    "Subscribed {channel} to: <b>{topic}</b>\nNew stories on it will be posted "
                    "there as they appear.",
                    channel=channel,
                    topic=escape(text),
                )
            case Changed(topic=text):
                # Translators: {topic} is the topic as the user typed it, in any language (do
                # not decline it: write it where a name fits as it is, e.g. after "the topic").
                said = texts._(
                    "Subscribed to: <b>{topic}</b>\nNew stories on it will be sent here as they "
                    "appear. For what is already out: /latest {topic}",
                    topic=escape(text),
                )
            case Unchanged(topic=text) if channel is not None:
                # Translators: {channel} is the channel's @username (or its title); {topic} the
                # topic as the user typed it.
                said = texts._(
                    "{channel} already follows <b>{topic}</b>.", channel=channel, topic=escape(text)
                )
            case Unchanged(topic=text):
                # Translators: {topic} is the topic as the user typed it.
                said = texts._("You already follow <b>{topic}</b>.", topic=escape(text))
        await reply(update, said)

    async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (command := await topic_command(update, context)) is None:
            return
        texts, target, raw = command
        if not raw.strip():
            current = await curation.followed(chats, target.chat_id, thread_id=target.thread_id)
            await reply(
                update,
                texts._("Which topic? For example: /unsubscribe ukraine")
                + "\n"
                + _your_topics(current, texts),
            )
            return
        if (topic := await parse_or_explain(update, raw, texts)) is None:
            return
        result = await curation.unsubscribe(
            chats, target.chat_id, topic, thread_id=target.thread_id
        )
        channel = target.channel
        shown = escape(result.topic)
        match result:
            case Changed() if channel is not None:
                # Translators: {channel} is the channel's @username (or its title); {topic} the
                # topic as the user typed it.
                said = texts._(
                    "Unsubscribed {channel} from: <b>{topic}</b>", channel=channel, topic=shown
                )
            case Changed():
                # Translators: {topic} is the topic as the user typed it.
                said = texts._("Unsubscribed from: <b>{topic}</b>", topic=shown)
            case Unchanged() if channel is not None:
                # Translators: {channel} is the channel's @username (or its title); {topic} the
                # topic as the user typed it.
                said = texts._(
                    "{channel} does not follow <b>{topic}</b>.", channel=channel, topic=shown
                )
            case Unchanged(following=current) if current:
                # Translators: {topic} is the topic as the user typed it; {topics} the topics the
                # chat follows, separated by commas.
                said = texts._(
                    "You do not follow <b>{topic}</b>. Your topics: {topics}",
                    topic=shown,
                    topics=_listing(current),
                )
            case Unchanged():
                # Translators: {topic} is the topic as the user typed it.
                said = texts._(
                    "You do not follow <b>{topic}</b>. You follow no topics.", topic=shown
                )
        await reply(update, said)

    async def list_subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        texts = reader_texts(update)
        chat = update.effective_chat
        words = context.args or ()
        if chat is None:
            return
        if not (chat.type == ChatType.PRIVATE and words and names_channel(words[0])):
            words = ()  # anywhere else /subscriptions lists this chat's, whatever follows
        if (found := await command_target(update, context, checks, words)) is None:
            return
        target = found[0]
        current = await curation.followed(chats, target.chat_id, thread_id=target.thread_id)
        if target.channel is not None:
            # Translators: the heading of a channel's topics; {channel} is the channel's
            # @username, or its title when it has none.
            header = texts._("Topics of {channel}", channel=target.channel)
            # Translators: {channel} is the channel's @username, or its title when it has none.
            empty = texts._("{channel} follows no topics yet.", channel=target.channel)
        else:
            header = texts._("Your topics")
            empty = texts._("This chat follows no topics yet. Try /subscribe ukraine")
        if not current:
            await reply(update, empty)
            return
        lines = [f"• {escape(topic)}" for topic in current]
        await reply(update, "<b>" + header + "</b>\n" + "\n".join(lines))

    async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        texts = reader_texts(update)
        user = update.effective_user
        admin = user is not None and user.id in services.admins
        listed = await feeds.list_sources()
        for text in sources_message(listed, services.clock(), texts=texts, admin=admin):
            await reply(update, text)

    return [
        command_handler("start", start),
        command_handler("help", help_command),
        command_handler("subscribe", admins_only(checks, subscribe)),
        command_handler("unsubscribe", admins_only(checks, unsubscribe)),
        command_handler("subscriptions", list_subscriptions),
        command_handler("sources", sources),
    ]


def _listing(topics: Sequence[str]) -> str:
    return ", ".join(escape(topic) for topic in topics)


def _your_topics(topics: Sequence[str], texts: Texts) -> str:
    """The topics a chat follows, or that it follows none: a hint under a question."""
    if topics:
        # Translators: {topics} is the topics the chat follows, separated by commas.
        return texts._("Your topics: {topics}", topics=_listing(topics))
    return texts._("You follow no topics.")


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
