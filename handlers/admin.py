"""Admins' commands: /addsource URL and /removesource URL; everyone else is politely refused.

Admins are the Telegram user ids in `NEWSBOT_ADMINS`. Adding fetches the URL once, confirms it is
a feed (or finds the feed a web page advertises) and refuses private addresses unless the
operator allows them; the answer says what was added or why not.
"""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from handlers.common import CommandCallbackHandler, Services, reply, shorten
from handlers.render import stories_kept
from news.discovery import find_feed
from news.errors import SourceError
from news.fetch import Fetcher

REFUSAL = "Sorry, only the bot's admins can change its sources. /sources lists them."


def build_admin_handlers(
    services: Services, *, fetcher: Fetcher | None = None, allow_private: bool = False
) -> list[CommandCallbackHandler]:
    """/addsource and /removesource; `fetcher` is the bot's shared one (else one per request)."""

    async def admin_url(
        update: Update, context: ContextTypes.DEFAULT_TYPE, command: str
    ) -> str | None:
        """The feed URL an admin gave `command`; None once the user is told why there is none."""
        user = update.effective_user
        if user is None or user.id not in services.admins:
            await reply(update, REFUSAL)
            return None
        url = " ".join(context.args or ()).strip()
        if not url:
            await reply(update, f"Which feed? For example: /{command} https://example.org/rss")
            return None
        return url

    async def add_source(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        url = await admin_url(update, context, "addsource")
        if url is None:
            return
        try:
            if fetcher is not None:
                found = await find_feed(
                    url, fetcher, now=services.clock(), allow_private=allow_private
                )
            else:
                async with Fetcher(public_only=not allow_private) as own:
                    found = await find_feed(
                        url, own, now=services.clock(), allow_private=allow_private
                    )
        except SourceError as error:
            await reply(update, f"Not added: {escape(shorten(str(error), 500))}")
            return
        source = await services.storage.add_source(found.url, now=services.clock())
        name = found.feed.title or source.name
        await reply(
            update,
            f"Added <b>{escape(name)}</b>\n{escape(source.url)}\n"
            f"{len(found.feed.entries)} entries now; new ones arrive from the next poll on.",
        )

    async def remove_source(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        url = await admin_url(update, context, "removesource")
        if url is None:
            return
        removed = await services.storage.remove_source(url)
        if removed is None:
            await reply(update, f"No source {escape(shorten(url))}. /sources lists them.")
            return
        await reply(
            update,
            f"Removed <b>{escape(removed.name)}</b>: it is no longer read "
            f"({stories_kept(removed)}, searchable until they age out). "
            f"/addsource {escape(removed.url)} reads it again.",
        )

    return [
        CommandHandler("addsource", add_source),
        CommandHandler("removesource", remove_source),
    ]
