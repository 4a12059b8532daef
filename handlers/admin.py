"""Admins' commands: /addsource URL, /removesource URL and /status; everyone else is politely
refused. And the message that tells admins a source has failed for a day, in each admin's
language: the one their private chat with the bot chose in /settings, else the one they last
used a command of this module (or /subscribe) in; English for an admin never heard from.

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
from telegram.constants import ChatType, ParseMode
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
from handlers.i18n import Texts, texts_for
from handlers.render import stories_kept
from news import curation
from news.errors import SourceError
from news.feeds.fetch import Fetcher
from news.model import OperationsStatus, Source
from news.ports import Chats, Operations, Sources

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
    chats: Chats = services.storage

    def is_admin(update: Update) -> bool:
        user = update.effective_user
        return user is not None and user.id in services.admins

    async def remember_language(update: Update, texts: Texts) -> None:
        """An admin writing from their private chat: its language is the one their reports
        of failing sources are written in."""
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        await chats.upsert_chat(chat.id, kind=chat.type, title=chat.full_name, now=services.clock())
        await chats.set_language(chat.id, texts.language)

    async def admin_url(
        update: Update, context: ContextTypes.DEFAULT_TYPE, command: str
    ) -> str | None:
        """The feed URL an admin gave `command`; None once the user is told why there is none."""
        texts = reader_texts(update)
        if not is_admin(update):
            await reply(update, refusal(texts))
            return None
        await remember_language(update, texts)
        url = " ".join(context.args or ()).strip()
        if not url:
            await reply(
                update,
                # Translators: {command} is the command the admin sent without a URL
                # ("addsource" or "removesource").
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
            # Translators: {reason} is why a feed could not be added, in English (it may
            # quote the feed's server).
            await reply(update, texts._("Not added: {reason}", reason=reason))
            return
        # Translators: {name} is the title of the feed just added.
        said = texts._("Added <b>{name}</b>", name=escape(added.title))
        # Translators: {count} is how many entries the feed just added has now.
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
                # Translators: {url} is the URL the admin typed, which no source has.
                texts._("No source {url}. /sources lists them.", url=escape(shorten(url))),
            )
            return
        await reply(
            update,
            # Translators: {name} is the removed source's name; {kept} says how many of its
            # stories are kept ("12 stories kept"); {url} is the feed's URL.
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
        await remember_language(update, texts)
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
        # Translators: a duration in /status: {count} seconds (0–119), abbreviated.
        return texts.ngettext("{count} s", "{count} s", round(seconds))
    # Translators: a duration in /status: {count} minutes (2 or more), abbreviated.
    return texts.ngettext("{count} min", "{count} min", round(seconds / 60))


def _failing_line(source: Source, now: datetime, texts: Texts) -> str:
    error = f"{source.last_error_kind or 'error'}: {shorten(source.last_error or '', 80)}"
    if source.last_success_at is None:
        # Translators: in brackets after a failing source's error, for admins: the feed was
        # never read successfully.
        since = texts._("never fetched")
    else:
        # Translators: in brackets after a failing source's error, for admins; {age} is how
        # long ago the feed was last read successfully ("3 h ago", "16 Nov 2024").
        since = texts._("last fetched {age}", age=texts.age(source.last_success_at, now))
    return f"• <b>{escape(source.name)}</b> — {escape(error)} ({since})"


def status_message(status: OperationsStatus, process: ProcessInfo, texts: Texts) -> str:
    """/status: the version and this process's loops, the sources, the outbox."""
    now = status.now
    ticks = ", ".join(
        # Translators: in /status, {loop} is the name of one of the bot's loops ("poll",
        # "deliver"; keep it in English): it has not run yet.
        texts._("{loop} not yet", loop=name)
        if seconds is None
        # Translators: in /status, {loop} is the name of a loop of the bot ("poll"), {elapsed}
        # how long ago it last ran ("12 s", "3 min").
        else texts._("{loop} {elapsed} ago", loop=name, elapsed=_seconds(seconds, texts))
        for name, seconds in process.last_ticks().items()
    )
    last_poll = (
        texts.age(status.last_polled_at, now)
        if status.last_polled_at
        # Translators: /status says when the sources were last polled: never.
        else texts.pgettext("last poll", "never")
    )
    # Translators: the heading of /status; {version} is the bot's version ("1.4.0"), {role}
    # the role this process runs as (a command-line value: keep "--role {role}" as it is).
    heading = texts._(
        "<b>Newsbot {version}</b> · this process: --role {role}",
        version=escape(process.version),
        role=process.role,
    )
    if ticks:
        # Translators: in /status; {ticks} lists when each of the bot's loops last ran
        # ("poll 12 s ago, deliver 3 s ago").
        heading += " " + texts._("(last ticks: {ticks})", ticks=ticks)
    # Translators: a line of /status; {read} is how many sources are read, {failing} how many
    # of them fail, {last_poll} how long ago they were last polled ("3 min ago", "never").
    sources = texts._(
        "<b>Sources</b>: {read} read, {failing} failing; last poll {last_poll}",
        read=texts.number(status.sources_enabled),
        failing=texts.number(status.failing_count),
        last_poll=last_poll,
    )
    lag = status.poll_lag.total_seconds()
    if lag >= 1:
        # Translators: added to the /status line on sources: polling runs late by {lag}
        # ("12 s", "3 min").
        sources += texts._(", {lag} behind", lag=_seconds(lag, texts))
    lines = [heading, "", sources, *(_failing_line(s, now, texts) for s in status.failing)]
    if status.failing_count > len(status.failing):
        more = status.failing_count - len(status.failing)
        # Translators: under the failing sources /status lists; {count} is how many more fail.
        lines.append(
            texts.ngettext("… and {count} more (/sources)", "… and {count} more (/sources)", more)
        )
    # Translators: a line of /status on the messages waiting to go out; {pending} is how many
    # wait, {sending} how many are being sent now.
    outbox = texts._(
        "<b>Outbox</b>: {pending} pending, {sending} sending",
        pending=texts.number(status.outbox_pending),
        sending=texts.number(status.outbox_sending),
    )
    if status.outbox_pending:
        waiting = _seconds(status.oldest_pending_age.total_seconds(), texts)
        # Translators: added to the /status line on the outbox; {waiting} is how long the oldest
        # push has waited ("12 s", "3 min").
        outbox += texts._("; the oldest push waits {waiting}", waiting=waiting)
    lines.append(outbox)
    return "\n".join(lines)


async def report_failing_sources(
    bot: ExtBot[Priority],
    admins: Collection[int],
    failing: Sequence[Source],
    now: datetime,
    chats: Chats,
) -> None:
    """Tell each admin, in a private message through the gateway and in the language of their
    private chat (`chats`), which sources have failed for a day. An admin who never started
    the bot cannot be written to: logged, skipped."""
    for admin in sorted(admins):
        settings = await chats.chat_settings(admin)
        texts = texts_for(settings.push_language if settings is not None else None)
        try:
            await bot.send_message(
                admin,
                failing_report(failing, now, texts),
                parse_mode=ParseMode.HTML,
                rate_limit_args=Priority.PUSH,
            )
        except TelegramError as error:
            logger.warning("could not tell admin %s about failing sources: %s", admin, error)


def failing_report(failing: Sequence[Source], now: datetime, texts: Texts) -> str:
    """The report to admins of the sources that have failed for a day (the first 20)."""
    shown = failing[:20]
    lines = [
        "⚠️ "
        # Translators: the heading of the report sent to the bot's admins; {count} is how many
        # sources have failed to be read for a day.
        + texts.ngettext(
            "<b>{count} source failing for a day</b>",
            "<b>{count} sources failing for a day</b>",
            len(failing),
        ),
        *(_failing_line(source, now, texts) + f"\n   {escape(source.url)}" for source in shown),
    ]
    if len(failing) > len(shown):
        more = len(failing) - len(shown)
        # Translators: under the failing sources the report lists; {count} is how many more fail.
        lines.append(texts.ngettext("… and {count} more", "… and {count} more", more))
    lines.append(texts._("/status shows how the bot is doing; /removesource stops reading a feed."))
    return "\n".join(lines)
