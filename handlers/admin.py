"""Admins' commands: /addsource URL, /removesource URL and /status; everyone else is politely
refused. And the message that tells admins a source has failed for a day.

Admins are the Telegram user ids in `NEWSBOT_ADMINS`. Adding fetches the URL once, confirms it is
a feed (or finds the feed a web page advertises) and refuses private addresses unless the
operator allows them; the answer says what was added or why not. /status shows the failing
sources, the outbox, the last poll and the version (`news.operations`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from html import escape

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import CommandHandler, ContextTypes, ExtBot

from handlers.common import CommandCallbackHandler, ProcessInfo, Services, reply, shorten
from handlers.gateway import Priority
from handlers.render import stories_kept
from news.discovery import find_feed
from news.errors import SourceError
from news.fetch import Fetcher
from news.model import Source
from news.operations import OperationsStatus
from news.text import age

logger = logging.getLogger(__name__)

REFUSAL = "Sorry, only the bot's admins can change its sources. /sources lists them."
STATUS_REFUSAL = "Sorry, only the bot's admins can see its status."


def build_admin_handlers(
    services: Services, *, fetcher: Fetcher | None = None, allow_private: bool = False
) -> list[CommandCallbackHandler]:
    """/addsource, /removesource and /status; `fetcher` is the bot's shared one (else one
    per request)."""

    def is_admin(update: Update) -> bool:
        user = update.effective_user
        return user is not None and user.id in services.admins

    async def admin_url(
        update: Update, context: ContextTypes.DEFAULT_TYPE, command: str
    ) -> str | None:
        """The feed URL an admin gave `command`; None once the user is told why there is none."""
        if not is_admin(update):
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

    async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not is_admin(update):
            await reply(update, STATUS_REFUSAL)
            return
        now = services.clock()
        await reply(
            update, status_message(await services.storage.operations_status(now), services.process)
        )

    return [
        CommandHandler("addsource", add_source),
        CommandHandler("removesource", remove_source),
        CommandHandler("status", status),
    ]


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _failing_line(source: Source, now: datetime) -> str:
    error = f"{source.last_error_kind or 'error'}: {shorten(source.last_error or '', 80)}"
    if source.last_success_at is None:
        since = "never fetched"
    else:
        since = f"last fetched {age(source.last_success_at, now)}"
    return f"• <b>{escape(source.name)}</b> — {escape(error)} ({since})"


def status_message(status: OperationsStatus, process: ProcessInfo) -> str:
    """/status: the version and this process's loops, the sources, the outbox."""
    now = status.now
    ticks = ", ".join(
        f"{name} {'not yet' if seconds is None else _seconds(seconds) + ' ago'}"
        for name, seconds in process.last_ticks().items()
    )
    last_poll = age(status.last_polled_at, now) if status.last_polled_at else "never"
    lines = [
        f"<b>Newsbot {escape(process.version)}</b> · this process: --role {process.role}"
        + (f" (last ticks: {ticks})" if ticks else ""),
        "",
        f"<b>Sources</b>: {status.sources_enabled} read, {status.failing_count} failing; "
        f"last poll {last_poll}"
        + (
            f", {_seconds(status.poll_lag.total_seconds())} behind"
            if status.poll_lag.total_seconds() >= 1
            else ""
        ),
        *(_failing_line(source, now) for source in status.failing),
    ]
    if status.failing_count > len(status.failing):
        lines.append(f"… and {status.failing_count - len(status.failing)} more (/sources)")
    waiting = status.oldest_pending_age.total_seconds()
    lines.append(
        f"<b>Outbox</b>: {status.outbox_pending} pending, {status.outbox_sending} sending"
        + (f"; the oldest push waits {_seconds(waiting)}" if status.outbox_pending else "")
    )
    return "\n".join(lines)


async def report_failing_sources(
    bot: ExtBot[Priority], admins: Collection[int], failing: Sequence[Source], now: datetime
) -> None:
    """Tell each admin, in a private message through the gateway, which sources have failed
    for a day. An admin who never started the bot cannot be written to: logged, skipped."""
    shown = failing[:20]
    lines = [
        f"⚠️ <b>{len(failing)} source{'s' if len(failing) != 1 else ''} failing for a day</b>",
        *(_failing_line(source, now) + f"\n   {escape(source.url)}" for source in shown),
    ]
    if len(failing) > len(shown):
        lines.append(f"… and {len(failing) - len(shown)} more")
    lines.append("/status shows how the bot is doing; /removesource stops reading a feed.")
    for admin in sorted(admins):
        try:
            await bot.send_message(
                admin,
                "\n".join(lines),
                parse_mode=ParseMode.HTML,
                rate_limit_args=Priority.PUSH,
            )
        except TelegramError as error:
            logger.warning("could not tell admin %s about failing sources: %s", admin, error)
