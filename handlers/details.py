"""The "More" button under a pushed story: the story card with the whole picture of its event.

The card follows the page this project was born from: the headline, a "Keep in mind" box of key
points taken from the story's own text (its body, up to 2,000 characters, where the feed carries
more than the summary; and from the other reports when the feed gave only a teaser), the other
outlets' headlines with links, then up to `RELATED_LIMIT` related recent stories on the topic
the story was pushed for, one per event, each with a snippet.
Callback data is `card:<story id>`, a few bytes under Telegram's 64.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, ContextTypes

from handlers.commands import Services
from handlers.latest import latest_events
from handlers.render import details_messages
from news.coverage import Event
from news.errors import TopicError
from news.keypoints import key_points
from news.model import Story
from news.ports import Storage
from news.topics import parse_topic

_PREFIX = "card"
RELATED_LIMIT = 5
RELATED_MAX_AGE = timedelta(days=7)
CARD_COOLDOWN = timedelta(minutes=1)
_REMEMBERED_CARDS = 10_000


def card_data(story_id: int) -> str:
    return f"{_PREFIX}:{story_id}"


def parse_card_data(data: str) -> int | None:
    """The story id from callback data, or None when the data is not a card button's."""
    prefix, _, story = data.partition(":")
    if prefix != _PREFIX or not (story.isascii() and story.isdecimal()) or len(story) > 18:
        return None
    return int(story)


def more_button(story_id: int) -> InlineKeyboardMarkup:
    """The keyboard under a pushed card."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("More ▸", callback_data=card_data(story_id))]]
    )


async def related_events(
    storage: Storage, story: Story, topics: tuple[str, ...], *, since: datetime
) -> list[Event]:
    """Events since `since` on the first of `topics` that parses, other than the story's own."""
    for text in topics:
        try:
            topic = parse_topic(text)
        except TopicError:
            continue
        listed, _ = await latest_events(
            storage, topic, RELATED_LIMIT, skip=frozenset({story.event})
        )
        return [event for event in listed if event.matched.published_at >= since]
    return []


def build_details_handlers(services: Services) -> list[CallbackQueryHandler]:  # type: ignore[type-arg]
    """The "More" button's callback."""
    storage = services.storage
    recently_shown: OrderedDict[tuple[int, int], datetime] = OrderedDict()

    async def details(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        callback = update.callback_query
        if callback is None:
            return
        story_id = parse_card_data(callback.data or "")
        story = await storage.story(story_id) if story_id is not None else None
        if story is None:
            await callback.answer("This story is no longer kept.", show_alert=True)
            return
        message = callback.message
        if not isinstance(message, Message):
            await callback.answer()
            return
        # A card is posted once per message and minute: repeated taps (a whole group tapping)
        # must not flood the chat past Telegram's limits for it.
        key = (message.chat_id, message.message_id)
        now = services.clock()
        shown_at = recently_shown.get(key)
        if shown_at is not None and now - shown_at < CARD_COOLDOWN:
            await callback.answer("The story card is just above.")
            return
        recently_shown[key] = now
        while len(recently_shown) > _REMEMBERED_CARDS:
            recently_shown.popitem(last=False)
        await callback.answer()
        members = (
            (await storage.cluster_members([story.cluster_id], bodies=True)).get(
                story.cluster_id, []
            )
            if story.cluster_id is not None
            else []
        )
        others = [report for report in members if report.source_name != story.source_name]
        points = key_points(
            story.body or story.summary,
            story.language,
            title=story.title,
            related=[report.body or report.summary for report in others],
        )
        topics = await storage.delivery_topics(message.chat_id, story.id)
        related = await related_events(storage, story, topics, since=now - RELATED_MAX_AGE)
        first_by_outlet: dict[str, Story] = {}
        for report in others:
            first_by_outlet.setdefault(report.source_name, report)
        texts = details_messages(
            story,
            now,
            key_points=[point.text for point in points],
            other_reports=list(first_by_outlet.values()),
            related=related,
        )
        for text in texts:
            await message.reply_text(
                text,
                parse_mode=ParseMode.HTML,
                do_quote=True,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )

    return [CallbackQueryHandler(details, pattern=f"^{_PREFIX}:")]
