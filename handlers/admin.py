"""Admins' commands: /addsource URL and /removesource URL; everyone else is politely refused.

Admins are the Telegram user ids in `NEWSBOT_ADMINS`. Adding fetches the URL once, confirms it is
a feed (or finds the feed a web page advertises) and refuses private addresses unless the
operator allows them; the answer says what was added or why not.
"""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from handlers.common import CommandCallbackHandler, Services, reader_texts, reply, shorten
from handlers.i18n import Texts
from handlers.render import stories_kept
from news.discovery import find_feed
from news.errors import SourceError
from news.fetch import Fetcher


def refusal(texts: Texts) -> str:
    """What a user who is not an admin is told."""
    return texts._("Sorry, only the bot's admins can change its sources. /sources lists them.")


def build_admin_handlers(
    services: Services, *, fetcher: Fetcher | None = None, allow_private: bool = False
) -> list[CommandCallbackHandler]:
    """/addsource and /removesource; `fetcher` is the bot's shared one (else one per request)."""

    async def admin_url(
        update: Update, context: ContextTypes.DEFAULT_TYPE, command: str
    ) -> str | None:
        """The feed URL an admin gave `command`; None once the user is told why there is none."""
        user = update.effective_user
        texts = reader_texts(update)
        if user is None or user.id not in services.admins:
            await reply(update, refusal(texts))
            return None
        url = " ".join(context.args or ()).strip()
        if not url:
            await reply(
                update,
                texts._(
                    "Which feed? For example: /{command} https://example.org/rss", command=command
                ),
            )
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
            reason = escape(shorten(str(error), 500))
            await reply(update, reader_texts(update)._("Not added: {reason}", reason=reason))
            return
        source = await services.storage.add_source(found.url, now=services.clock())
        name = found.feed.title or source.name
        texts = reader_texts(update)
        added = texts._("Added <b>{name}</b>", name=escape(name))
        entries = texts.ngettext(
            "{count} entry now; new ones arrive from the next poll on.",
            "{count} entries now; new ones arrive from the next poll on.",
            len(found.feed.entries),
        )
        await reply(update, f"{added}\n{escape(source.url)}\n{entries}")

    async def remove_source(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        url = await admin_url(update, context, "removesource")
        if url is None:
            return
        texts = reader_texts(update)
        removed = await services.storage.remove_source(url)
        if removed is None:
            await reply(
                update,
                texts._("No source {url}. /sources lists them.", url=escape(shorten(url))),
            )
            return
        await reply(
            update,
            texts._(
                "Removed <b>{name}</b>: it is no longer read ({kept}, searchable until they age "
                "out). /addsource {url} reads it again.",
                name=escape(removed.name),
                kept=stories_kept(removed, texts),
                url=escape(removed.url),
            ),
        )

    return [
        CommandHandler("addsource", add_source),
        CommandHandler("removesource", remove_source),
    ]
