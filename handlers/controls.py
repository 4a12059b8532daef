"""How a chat takes its pushes: /pause, /resume, /digest HH:MM | off, /timezone Area/City.

In groups only their admins may change these (`handlers.permissions`).

A time zone is one of the IANA names the zone database lists (`zoneinfo.available_timezones`),
found whatever its case ("europe/kyiv") or by its city alone when that is unique ("Kyiv").
Nothing a user types reaches `ZoneInfo` unless it is such a name: `ZoneInfo` reads files, and
"Europe" (a directory), a 300-character name or "../etc/passwd" raise different errors.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from telegram import Update
from telegram.ext import BaseHandler, ContextTypes

from handlers.common import (
    Services,
    command_handler,
    reader_texts,
    refuse_argument,
    reply,
)
from handlers.permissions import AdminChecks, admins_only
from news.errors import N_
from news.model import ChatSettings
from news.ports import Chats

# The menu's entries for these commands (see `handlers.commands.COMMANDS`).
CONTROL_COMMANDS = (
    # Translators: the command menu beside the message box: each command and what it does.
    ("pause", N_("Stop pushes for now")),
    # Translators: the menu's entry for /resume: pushes to this chat start again after /pause.
    ("resume", N_("Start pushes again")),
    # Translators: HH:MM is a time of day (hours, minutes): write it as your language does;
    # "off" is what the user types to undo (keep it as it is).
    ("digest", N_("One daily digest at HH:MM, or off")),
    ("timezone", N_("Your time zone for the digest, e.g. Europe/Kyiv")),
)
# Decimal digits of any script ("٠٧:٣٠" is 07:30), kept in ASCII; not "²" or "½".
_CLOCK_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
# The longest IANA name is about 30 characters; anything much longer is not one.
_ZONE_NAME_LIMIT = 64


def parse_clock_time(text: str) -> str | None:
    """ "7:30" → "07:30"; None when it is not a time of day."""
    match = _CLOCK_TIME.match(text.strip())
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    return f"{hour:02d}:{minute:02d}" if hour < 24 and minute < 60 else None


@cache
def _zones() -> dict[str, str]:
    """Every IANA zone name, by its case-folded form and, when unique, by its city's."""
    names = available_timezones()
    by_name = {name.casefold(): name for name in names}
    cities: dict[str, list[str]] = {}
    for name in names:
        if "/" in name:
            cities.setdefault(name.rsplit("/", 1)[1].casefold(), []).append(name)
    for city, zones in cities.items():
        if len(zones) == 1:
            by_name.setdefault(city, zones[0])
    return by_name


def find_time_zone(text: str) -> str | None:
    """The IANA name `text` means ("europe/kyiv", "Kyiv", "new york"), or None."""
    key = "_".join(text.split()).casefold()
    if not key or len(key) > _ZONE_NAME_LIMIT:
        return None
    return _zones().get(key)


def build_control_handlers(
    services: Services, checks: AdminChecks
) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]]:
    """/pause, /resume, /digest and /timezone; in groups for their admins only (`checks`)."""
    storage: Chats = services.storage

    async def settings_of(update: Update) -> ChatSettings | None:
        chat = update.effective_chat
        if chat is None:
            return None
        current = await storage.chat_settings(chat.id)
        if current is None:
            await storage.upsert_chat(
                chat.id, kind=chat.type, title=chat.title or chat.full_name, now=services.clock()
            )
            current = await storage.chat_settings(chat.id)
        return current

    async def switch_pushes(update: Update, *, paused: bool) -> None:
        if (current := await settings_of(update)) is None:
            return
        await storage.set_paused(current.chat_id, paused)
        texts = reader_texts(update)
        if paused:
            said = texts._("Paused: no stories will be pushed here until you send /resume.")
        else:
            said = texts._("Resumed: new stories on your topics will be pushed here again.")
        await reply(update, said)

    async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await switch_pushes(update, paused=True)

    async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await switch_pushes(update, paused=False)

    async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (current := await settings_of(update)) is None:
            return
        texts = reader_texts(update)
        argument = " ".join(context.args or ()).strip().lower()
        zone = current.timezone or "UTC"
        if argument in ("off", "no", "stop"):
            await storage.set_digest(current.chat_id, None)
            services.schedule_digest(
                ChatSettings(current.chat_id, current.kind, timezone=current.timezone)
            )
            await reply(update, texts._("Digest off: stories are pushed as they appear."))
            return
        when = parse_clock_time(argument)
        if when is None:
            state = (
                # Translators: {time} is the time of day of the digest ("08:00"), {zone} the
                # chat's time zone (an IANA name, "Europe/Kyiv").
                texts._(
                    "Now: one digest a day at {time} ({zone}).",
                    time=current.digest_time,
                    zone=zone,
                )
                if current.digest_time
                else texts._("Now: stories are pushed as they appear.")
            )
            # Translators: {zone} is the chat's time zone (an IANA name, "Europe/Kyiv"). HH:MM is
            # what to type after /digest; "off" is typed as it is.
            usage = texts._(
                "Send /digest HH:MM for one daily digest at that time (24-hour clock, your time "
                "zone: {zone}; change it with /timezone), or /digest off.",
                zone=zone,
            )
            await reply(update, f"{usage}\n{state}")
            return
        await storage.set_digest(current.chat_id, when)
        services.schedule_digest(
            ChatSettings(current.chat_id, current.kind, digest_time=when, timezone=zone)
        )
        await reply(
            update,
            # Translators: {time} is the time of day of the digest ("08:00"), {zone} the chat's
            # time zone (an IANA name, "Europe/Kyiv").
            texts._(
                "Daily digest at {time} ({zone}): the day's stories on your topics arrive then, "
                "in one message. /digest off returns to instant pushes.",
                time=when,
                zone=zone,
            ),
        )

    async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (current := await settings_of(update)) is None:
            return
        texts = reader_texts(update)
        name = " ".join(context.args or ()).strip()
        if not name:
            await reply(
                update,
                # Translators: {zone} is the chat's time zone (an IANA name, "Europe/Kyiv"); the
                # names stay in English (Area/City may be translated, Europe/Kyiv may be a zone
                # of your language's country).
                texts._(
                    "Your time zone: {zone}. "
                    "Change it with /timezone Area/City, e.g. /timezone Europe/Kyiv",
                    zone=current.timezone or "UTC",
                ),
            )
            return
        found = find_time_zone(name)
        if found is None:
            await refuse_argument(
                update,
                texts,
                # Translators: {name} is what the user typed after /timezone. The zone names
                # stay in English (you may name zones of your language's countries).
                N_(
                    "Unknown time zone “{name}”. Use an Area/City name such as "
                    "Europe/Kyiv, America/New_York or Asia/Tokyo."
                ),
                name=name,
            )
            return
        zone = ZoneInfo(found)
        await storage.set_timezone(current.chat_id, zone.key)
        services.schedule_digest(
            ChatSettings(
                current.chat_id, current.kind, digest_time=current.digest_time, timezone=zone.key
            )
        )
        # Translators: {zone} is the time zone just set (an IANA name, "Europe/Kyiv").
        await reply(update, texts._("Time zone set to {zone}.", zone=zone.key))

    return [
        command_handler("pause", admins_only(checks, pause)),
        command_handler("resume", admins_only(checks, resume)),
        command_handler("digest", admins_only(checks, digest)),
        command_handler("timezone", admins_only(checks, timezone)),
    ]
