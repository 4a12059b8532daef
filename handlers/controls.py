"""How a chat takes its pushes: /pause, /resume, /digest HH:MM | off, /timezone Area/City."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import BotCommand, Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from handlers.commands import Services, reply
from news.model import ChatSettings

CONTROL_COMMANDS = (
    BotCommand("pause", "Stop pushes for now"),
    BotCommand("resume", "Start pushes again"),
    BotCommand("digest", "One daily digest at HH:MM, or off"),
    BotCommand("timezone", "Your time zone for the digest, e.g. Europe/Kyiv"),
)
_CLOCK_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_clock_time(text: str) -> str | None:
    """ "7:30" → "07:30"; None when it is not a time of day."""
    match = _CLOCK_TIME.match(text.strip())
    return f"{int(match.group(1)):02d}:{match.group(2)}" if match else None


def build_control_handlers(
    services: Services,
) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]]:
    """/pause, /resume, /digest and /timezone."""
    storage = services.storage

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

    async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (current := await settings_of(update)) is None:
            return
        await storage.set_paused(current.chat_id, True)
        await reply(update, "Paused: no stories will be pushed here until you send /resume.")

    async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (current := await settings_of(update)) is None:
            return
        await storage.set_paused(current.chat_id, False)
        await reply(update, "Resumed: new stories on your topics will be pushed here again.")

    async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (current := await settings_of(update)) is None:
            return
        argument = " ".join(context.args or ()).strip().lower()
        zone = current.timezone or "UTC"
        if argument in ("off", "no", "stop"):
            await storage.set_digest(current.chat_id, None)
            services.schedule_digest(
                ChatSettings(current.chat_id, current.kind, timezone=current.timezone)
            )
            await reply(update, "Digest off: stories are pushed as they appear.")
            return
        when = parse_clock_time(argument)
        if when is None:
            state = (
                f"Now: one digest a day at {current.digest_time} ({zone})."
                if current.digest_time
                else "Now: stories are pushed as they appear."
            )
            await reply(
                update,
                "Send /digest HH:MM for one daily digest at that time (24-hour clock, your time "
                f"zone: {zone}; change it with /timezone), or /digest off.\n{state}",
            )
            return
        await storage.set_digest(current.chat_id, when)
        services.schedule_digest(
            ChatSettings(current.chat_id, current.kind, digest_time=when, timezone=zone)
        )
        await reply(
            update,
            f"Daily digest at {when} ({zone}): the day's stories on your topics arrive then, in "
            "one message. /digest off returns to instant pushes.",
        )

    async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (current := await settings_of(update)) is None:
            return
        name = " ".join(context.args or ()).strip()
        if not name:
            await reply(
                update,
                f"Your time zone: {current.timezone or 'UTC'}. "
                "Change it with /timezone Area/City, e.g. /timezone Europe/Kyiv",
            )
            return
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            await reply(
                update,
                "I do not know that time zone. Use an Area/City name such as Europe/Kyiv, "
                "America/New_York or Asia/Tokyo.",
            )
            return
        await storage.set_timezone(current.chat_id, zone.key)
        services.schedule_digest(
            ChatSettings(
                current.chat_id, current.kind, digest_time=current.digest_time, timezone=zone.key
            )
        )
        await reply(update, f"Time zone set to {zone.key}.")

    return [
        CommandHandler("pause", pause),
        CommandHandler("resume", resume),
        CommandHandler("digest", digest),
        CommandHandler("timezone", timezone),
    ]
