"""/latest: the newest events on a topic, and a "More" button that pages back in time.

What a list holds is decided in the domain (`news.reading.latest_events`); this module parses
the command, renders the events and keeps the "More" button's query (see `handlers.common` for
its callback data and how long it works).
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes

from handlers.common import (
    MORE_PREFIX,
    CommandCallbackHandler,
    PagedQuery,
    PagingQueries,
    Services,
    more_data,
    parse_more_data,
    parse_or_explain,
    reply,
    split_count,
)
from handlers.render import latest_messages
from news.coverage import Event
from news.reading import DEFAULT_LATEST, MAX_LATEST, latest_events
from news.topics import Topic, parse_topic

EXPIRED = "This list has expired. Send /latest again for the newest stories."


def build_latest_handlers(services: Services) -> list[CommandCallbackHandler]:
    """/latest and its "More" button."""
    storage = services.storage
    queries = PagingQueries(services.clock)

    async def send_page(
        message: Message, heading: str, query: PagedQuery, listed: list[Event], more: bool
    ) -> None:
        texts = latest_messages(heading, listed, services.clock())
        markup = None
        if more and listed:
            token = queries.remember(query)
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            "More ▸", callback_data=more_data(token, listed[-1].matched)
                        )
                    ]
                ]
            )
        for position, text in enumerate(texts):
            await message.reply_text(
                text,
                parse_mode=ParseMode.HTML,
                do_quote=False,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=markup if position == len(texts) - 1 else None,
            )

    async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        raw, count = split_count(context.args or ())
        note = None
        if count is None:
            count = DEFAULT_LATEST
        elif not 1 <= count <= MAX_LATEST:
            note = f"(I show between 1 and {MAX_LATEST} stories at once.)"
            count = min(max(count, 1), MAX_LATEST)
        topic: Topic | None = None
        if raw.strip() and (topic := await parse_or_explain(update, raw)) is None:
            return
        listed, more = await latest_events(storage, topic, count)
        if not listed:
            if topic is None:
                await reply(update, "No stories yet: the sources have not been read.")
            else:
                await reply(
                    update,
                    f"No stories on <b>{escape(topic.text)}</b> yet. "
                    f"/subscribe {escape(topic.text)} to get them as they appear.",
                )
            return
        heading = f"Latest on {topic.text}" if topic else "Latest stories"
        query = PagedQuery(message.chat_id, topic.text if topic else None, count)
        await send_page(message, heading, query, listed, more)
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
        if parsed is None or query is None or not isinstance(message, Message):
            await callback.answer(EXPIRED, show_alert=True)
            return
        await callback.answer()
        topic = parse_topic(query.topic) if query.topic else None
        listed, more = await latest_events(storage, topic, query.count, before=parsed[1])
        await message.edit_reply_markup(reply_markup=None)
        if not listed:
            await message.reply_text("No older stories.", do_quote=False)
            return
        heading = f"Older on {query.topic}" if query.topic else "Older stories"
        await send_page(message, heading, query, listed, more)

    return [
        CommandHandler("latest", latest),
        CallbackQueryHandler(more, pattern=f"^{MORE_PREFIX}:"),
    ]
