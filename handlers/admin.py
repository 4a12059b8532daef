"""Admins' commands: /addsource URL, /removesource URL and /status; everyone else is politely
refused. And the message that tells admins a source has failed for a day.

Admins are the Telegram user ids in `NEWSBOT_ADMINS`. Adding fetches the URL once, confirms it is
a feed (or finds the feed a web page advertises) and refuses private addresses unless the
operator allows them; the answer says what was added or why not. /status shows the failing
sources, the outbox, the last poll and the version (`news.model.OperationsStatus`).
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

from handlers.common import (
    CommandCallbackHandler,
    ProcessInfo,
    Services,
    reader_texts,
    reply,
    shorten,
)
from handlers.gateway import Priority
from handlers.i18n import Texts, english
from handlers.render import stories_kept
from news import curation
from news.errors import SourceError
from news.feeds.fetch import Fetcher
from news.model import OperationsStatus, Source
from news.ports import Operations, Sources

logger = logging.getLogger(__name__)


def refusal(texts: Texts) -> str:
    """What a user who is not an admin is told."""
    return texts._("Sorry, only the bot's admins can change its sources. /sources lists them.")


def build_admin_handlers(
    services: Services, *, fetcher: Fetcher | None = None, allow_private: bool = False
) -> list[CommandCallbackHandler]:
    """/addsource, /removesource and /status; `fetcher` is the bot's shared one (else one
    per request)."""

    sources: Sources = services.storage
    operations: Operations = services.storage

    def is_admin(update: Update) -> bool:
        user = update.effective_user
        return user is not None and user.id in services.admins

    async def admin_url(
        update: Update, context: ContextTypes.DEFAULT_TYPE, command: str
    ) -> str | None:
        """The feed URL an admin gave `command`; None once the user is told why there is none."""
        texts = reader_texts(update)
        if not is_admin(update):
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
        texts = reader_texts(update)
        try:
            added = await curation.add_source(
                sources, url, now=services.clock(), fetcher=fetcher, allow_private=allow_private
            )
        except SourceError as error:
            reason = escape(shorten(str(error), 500))
            await reply(update, texts._("Not added: {reason}", reason=reason))
            return
        said = texts._("Added <b>{name}</b>", name=escape(added.title))
        entries = texts.ngettext(
            "{count} entry now; new ones arrive from the next poll on.",
            "{count} entries now; new ones arrive from the next poll on.",
            added.entries,
        )
        await reply(update, f"{said}\n{escape(added.source.url)}\n{entries}")

    async def remove_source(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        url = await admin_url(update, context, "removesource")
        if url is None:
            return
        texts = reader_texts(update)
        removed = await curation.remove_source(sources, url)
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

    async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        texts = reader_texts(update)
        if not is_admin(update):
            await reply(update, texts._("Sorry, only the bot's admins can see its status."))
            return
        now = services.clock()
        report = await operations.operations_status(now)
        await reply(update, status_message(report, services.process, texts))

    return [
        CommandHandler("addsource", add_source),
        CommandHandler("removesource", remove_source),
        CommandHandler("status", status),
    ]


def _seconds(seconds: float, texts: Texts) -> str:
    if seconds < 120:
        return texts._("{seconds} s", seconds=texts.number(round(seconds)))
    return texts._("{minutes} min", minutes=texts.number(round(seconds / 60)))


def _failing_line(source: Source, now: datetime, texts: Texts) -> str:
    error = f"{source.last_error_kind or 'error'}: {shorten(source.last_error or '', 80)}"
    if source.last_success_at is None:
        since = texts._("never fetched")
    else:
        since = texts._("last fetched {age}", age=texts.age(source.last_success_at, now))
    return f"• <b>{escape(source.name)}</b> — {escape(error)} ({since})"


def status_message(status: OperationsStatus, process: ProcessInfo, texts: Texts) -> str:
    """/status: the version and this process's loops, the sources, the outbox."""
    now = status.now
    ticks = ", ".join(
        texts._("{loop} not yet", loop=name)
        if seconds is None
        else texts._("{loop} {elapsed} ago", loop=name, elapsed=_seconds(seconds, texts))
        for name, seconds in process.last_ticks().items()
    )
    last_poll = texts.age(status.last_polled_at, now) if status.last_polled_at else texts._("never")
    heading = texts._(
        "<b>Newsbot {version}</b> · this process: --role {role}",
        version=escape(process.version),
        role=process.role,
    )
    if ticks:
        heading += " " + texts._("(last ticks: {ticks})", ticks=ticks)
    sources = texts._(
        "<b>Sources</b>: {read} read, {failing} failing; last poll {last_poll}",
        read=texts.number(status.sources_enabled),
        failing=texts.number(status.failing_count),
        last_poll=last_poll,
    )
    lag = status.poll_lag.total_seconds()
    if lag >= 1:
        sources += texts._(", {lag} behind", lag=_seconds(lag, texts))
    lines = [heading, "", sources, *(_failing_line(s, now, texts) for s in status.failing)]
    if status.failing_count > len(status.failing):
        more = status.failing_count - len(status.failing)
        lines.append(texts._("… and {count} more (/sources)", count=texts.number(more)))
    outbox = texts._(
        "<b>Outbox</b>: {pending} pending, {sending} sending",
        pending=texts.number(status.outbox_pending),
        sending=texts.number(status.outbox_sending),
    )
    if status.outbox_pending:
        waiting = _seconds(status.oldest_pending_age.total_seconds(), texts)
        outbox += texts._("; the oldest push waits {waiting}", waiting=waiting)
    lines.append(outbox)
    return "\n".join(lines)


async def report_failing_sources(
    bot: ExtBot[Priority], admins: Collection[int], failing: Sequence[Source], now: datetime
) -> None:
    """Tell each admin, in a private message through the gateway, which sources have failed
    for a day. An admin who never started the bot cannot be written to: logged, skipped.
    Nobody's language is known here: the report is in English."""
    texts = english()
    shown = failing[:20]
    lines = [
        "⚠️ "
        + texts.ngettext(
            "<b>{count} source failing for a day</b>",
            "<b>{count} sources failing for a day</b>",
            len(failing),
        ),
        *(_failing_line(source, now, texts) + f"\n   {escape(source.url)}" for source in shown),
    ]
    if len(failing) > len(shown):
        more = len(failing) - len(shown)
        lines.append(texts._("… and {count} more", count=texts.number(more)))
    lines.append(texts._("/status shows how the bot is doing; /removesource stops reading a feed."))
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
