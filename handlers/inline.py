"""Inline mode: `@bot ukraine` typed in any chat offers the newest events on the topic.

Each result is an event as /latest lists it (`news.reading.latest_events`): its headline as the
title, source and age as the description, and, once chosen, the story card exactly as the bot
pushes it (`handlers.render.story_card`, link preview off like a push). An empty query offers the
newest stories of all; a topic that cannot be parsed offers one result that says why, in the
user's language.

Answers are in the language of whoever typed the query (every result's age is, and the card it
sends), so they are personal (`is_personal`): Telegram may keep one briefly
(`INLINE_CACHE_SECONDS`, news moves fast) but shows it to that user only, never an answer in one
user's language to another. Scrolling to the end asks for the next page: `next_offset` carries
the keyset cursor of the last event shown, as the "More" button of /latest. An offset that is no
such cursor (Telegram sends back only ours: it is forged, or a cursor the database could not
compare) has no more results.
"""

from __future__ import annotations

from datetime import datetime

from telegram import (
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import ContextTypes, InlineQueryHandler

from handlers.common import (
    CommandCallbackHandler,
    Services,
    cursor_text,
    parse_cursor,
    reader_texts,
)
from handlers.i18n import Texts
from handlers.render import story_card
from news.errors import TopicError
from news.events import Event
from news.reading import Library, latest_events
from news.topics import Topic, parse_topic

#: Results offered at once (Telegram takes up to 50; a phone shows a handful).
INLINE_RESULTS = 10
#: Seconds Telegram may reuse an answer for the same query.
INLINE_CACHE_SECONDS = 30
#: What a result's description may hold before Telegram's own cut.
_DESCRIPTION_LIMIT = 120


def event_result(event: Event, now: datetime, texts: Texts) -> InlineQueryResultArticle:
    """One event as an inline result: the story card as the message it sends."""
    story = event.lead
    also = [name for name in event.outlets if name != story.source_name]
    also_count = max(event.outlet_count - 1, len(also))
    description = f"{story.source_name} · {texts.age(story.published_at, now)}"
    return InlineQueryResultArticle(
        id=f"story-{story.id}",
        title=story.title,
        description=description[:_DESCRIPTION_LIMIT],
        input_message_content=InputTextMessageContent(
            story_card(story, now, texts=texts, also=also, also_count=also_count),
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
    )


def explanation_result(reason: str, texts: Texts) -> InlineQueryResultArticle:
    """The one result offered for a topic that cannot be parsed: why, and how to write it."""
    return InlineQueryResultArticle(
        id="topic-error",
        title=texts._("I cannot search for that"),
        description=reason[:_DESCRIPTION_LIMIT],
        input_message_content=InputTextMessageContent(
            reason, link_preview_options=LinkPreviewOptions(is_disabled=True)
        ),
    )


def build_inline_handlers(services: Services) -> list[CommandCallbackHandler]:
    """The inline query handler."""
    storage: Library = services.storage

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.inline_query
        if query is None:
            return
        texts = reader_texts(update)
        raw = query.query.strip()
        topic: Topic | None = None
        if raw:
            try:
                topic = parse_topic(raw)
            except TopicError as error:
                reason = texts.topic_error(error)
                await query.answer(
                    [explanation_result(reason, texts)],
                    cache_time=INLINE_CACHE_SECONDS,
                    is_personal=True,
                )
                return
        before = parse_cursor(query.offset) if query.offset else None
        if query.offset and before is None:
            await query.answer([], cache_time=INLINE_CACHE_SECONDS, is_personal=True)
            return
        listed, more = await latest_events(
            storage,
            topic,
            INLINE_RESULTS,
            before=before,
            language=texts.language,
            across=services.across,
        )
        now = services.clock()
        await query.answer(
            [event_result(event, now, texts) for event in listed],
            cache_time=INLINE_CACHE_SECONDS,
            is_personal=True,
            next_offset=cursor_text(listed[-1].matched) if more and listed else None,
        )

    return [InlineQueryHandler(answer)]
