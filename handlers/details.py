"""The "More" button under a pushed story: the story card with the whole picture of its event.

The card follows the page this project was born from: the headline, a "Keep in mind" box of key
points taken from the story's article when its page was read (a teaser's; see
`news.articles.keeping`, which may wait up to 4 s for a page being read), else from the story's
own text (its body, up to 2,000 characters, where the feed carries more than the summary; and
from the other reports when the feed gave only a teaser), the other
outlets' headlines with links, then up to `news.reading.RELATED_LIMIT` related recent stories on
the topic the story was pushed for, one per event, each with a snippet. What the card holds is
decided in the domain (`news.reading.story_card`); this module answers the button and renders it.
Callback data is `card:<story id>` (`handlers.common`), a few bytes under Telegram's 64.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from telegram import LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, ContextTypes

from handlers.common import CARD_PREFIX, Services, button_press, parse_card_data, thread_of
from handlers.render import details_messages
from news.reading import CardLibrary, story_card

CARD_COOLDOWN = timedelta(minutes=1)
_REMEMBERED_CARDS = 10_000


def build_details_handlers(services: Services) -> list[CallbackQueryHandler]:  # type: ignore[type-arg]
    """The "More" button's callback."""
    storage: CardLibrary = services.storage
    recently_shown: OrderedDict[tuple[int, int], datetime] = OrderedDict()

    async def details(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        press = button_press(update, parse_card_data)
        if press is None:
            return
        callback, texts, story_id = press
        story = await storage.story(story_id) if story_id is not None else None
        if story is None:
            await callback.answer(texts._("This story is no longer kept."), show_alert=True)
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
            await callback.answer(texts._("The story card is just above."))
            return
        recently_shown[key] = now
        while len(recently_shown) > _REMEMBERED_CARDS:
            recently_shown.popitem(last=False)
        await callback.answer()
        card = await story_card(
            storage,
            story,
            chat_id=message.chat_id,
            now=now,
            thread_id=thread_of(message),
            articles=services.articles,
        )
        pages = details_messages(
            card.story,
            now,
            key_points=card.key_points,
            other_reports=card.other_reports,
            related=card.related,
            texts=texts,
            other_outlets=card.other_outlets,
        )
        for text in pages:
            await message.reply_text(
                text,
                parse_mode=ParseMode.HTML,
                do_quote=True,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )

    return [CallbackQueryHandler(details, pattern=f"^{CARD_PREFIX}:")]
