"""/latest: the newest events on a topic, and a "More" button that pages back in time.

What a list holds is decided in the domain (`news.reading.latest_events`); this module parses
the command, renders the events and keeps the "More" button's query (see `handlers.common` for
its callback data and how long it works). "More" lists the next page once: the button is taken
off its message first, and a second press finds it gone and is answered that the page is shown.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, ContextTypes

from handlers.common import (
    MORE_PREFIX,
    CommandCallbackHandler,
    PagedQuery,
    PagingQueries,
    Services,
    command_handler,
    more_data,
    parse_more_data,
    parse_or_explain,
    reader_texts,
    reply,
    split_count,
    stale_button,
)
from handlers.i18n import Texts
from handlers.render import latest_messages
from news.events import Event
from news.reading import DEFAULT_LATEST, MAX_LATEST, Library, latest_events
from news.topics import Topic, parse_topic


def build_latest_handlers(services: Services) -> list[CommandCallbackHandler]:
    """/latest and its "More" button."""
    storage: Library = services.storage
    queries = PagingQueries(services.clock)

    async def send_page(
        message: Message,
        heading: str,
        query: PagedQuery,
        listed: list[Event],
        more: bool,
        texts: Texts,
    ) -> None:
        pages = latest_messages(heading, listed, services.clock(), texts=texts)
        markup = None
        if more and listed:
            token = queries.remember(query)
            button = InlineKeyboardButton(
                # Translators: the button under /latest's list that lists older stories.
                texts.pgettext("button listing older stories", "More ▸"),
                callback_data=more_data(token, listed[-1].matched),
            )
            markup = InlineKeyboardMarkup([[button]])
        for position, text in enumerate(pages):
            await message.reply_text(
                text,
                parse_mode=ParseMode.HTML,
                do_quote=False,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=markup if position == len(pages) - 1 else None,
            )

    async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        texts = reader_texts(update)
        raw, count = split_count(context.args or ())
        note = None
        if count is None:
            count = DEFAULT_LATEST
        elif not 1 <= count <= MAX_LATEST:
            # Translators: after /latest with a number out of range; {count} is the most stories
            # /latest lists at once (20).
            note = texts.ngettext(
                "(I show between 1 and {count} story at once.)",
                "(I show between 1 and {count} stories at once.)",
                MAX_LATEST,
            )
            count = min(max(count, 1), MAX_LATEST)
        topic: Topic | None = None
        if raw.strip() and (topic := await parse_or_explain(update, raw, texts)) is None:
            return
        listed, more = await latest_events(
            storage, topic, count, language=texts.language, across=services.across
        )
        if not listed:
            if topic is None:
                await reply(update, texts._("No stories yet: the sources have not been read."))
            else:
                await reply(
                    update,
                    # Translators: {topic} is the topic as the user typed it, in any language (do
                    # not decline it: put it where a name fits as it is, e.g. after "the topic").
                    texts._(
                        "No stories on <b>{topic}</b> yet. "
                        "/subscribe {topic} to get them as they appear.",
                        topic=escape(topic.text),
                    ),
                )
            return
        heading = (
            # Translators: the heading of /latest's list; {topic} is the topic as the user typed
            # it (do not decline it).
            texts._("Latest on {topic}", topic=topic.text)
            if topic
            # Translators: the heading of /latest's list without a topic.
            else texts._("Latest stories")
        )
        query = PagedQuery(message.chat_id, topic.text if topic else None, count)
        await send_page(message, heading, query, listed, more, texts)
        if note:
            await reply(update, note)

    async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        callback = update.callback_query
        if callback is None:
            return
        parsed = parse_more_data(callback.data or "")
        message = callback.message
        query = (
            queries.get(parsed[0], message.chat_id)
            if parsed is not None and isinstance(message, Message)
            else None
        )
        texts = reader_texts(update)
        if parsed is None or query is None or not isinstance(message, Message):
            await callback.answer(
                texts._("This list has expired. Send /latest again for the newest stories."),
                show_alert=True,
            )
            return
        # The button goes before the page is listed: a second press (a double tap, or the
        # button on a copy of the message that is out of date) then finds it gone.
        try:
            await message.edit_reply_markup(reply_markup=None)
        except BadRequest as error:
            if not stale_button(error):
                raise
            if "not modified" in error.message.lower():  # pressed twice: the page is below
                await callback.answer(texts._("Already shown: the older stories are just below."))
            else:  # the message is gone or too old: nothing to show under it
                await callback.answer()
            return
        await callback.answer()
        topic = parse_topic(query.topic) if query.topic else None
        listed, more = await latest_events(
            storage,
            topic,
            query.count,
            before=parsed[1],
            language=texts.language,
            across=services.across,
        )
        if not listed:
            # Translators: the "More ▸" button under /latest's list found nothing older.
            await message.reply_text(texts._("No older stories."), do_quote=False)
            return
        heading = (
            # Translators: the heading of the next page of /latest's list (older stories);
            # {topic} is the topic as the user typed it (do not decline it).
            texts._("Older on {topic}", topic=query.topic)
            if query.topic
            # Translators: the heading of the next page of /latest's list without a topic.
            else texts._("Older stories")
        )
        await send_page(message, heading, query, listed, more, texts)

    return [
        command_handler("latest", latest),
        CallbackQueryHandler(more, pattern=f"^{MORE_PREFIX}:"),
    ]
