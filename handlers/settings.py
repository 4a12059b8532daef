"""/settings: a chat's link previews, silent pushes, quiet hours and language, on buttons.

`/settings` answers with the chat's settings and a keyboard; each press changes one setting,
answers the button and edits that message in place. In groups anyone may look, only admins may
change (`handlers.permissions`); a channel's creator, or an admin with the right to post in it,
names it from a private chat: `/settings @channel`, and only they may press its buttons. Quiet
hours can also be typed: `/settings quiet 23:00-07:00`, `off`.

Callback data is `set:<chat id>:<setting>:<value>`, under Telegram's 64 bytes. The chat id is
checked again on each press: a button changes the chat it was pressed in, or a channel that the
presser may manage. A press of what is already chosen, or on a message gone since, is answered
and nothing more.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler, ContextTypes

from handlers.common import (
    CommandCallbackHandler,
    Services,
    button_press,
    command_handler,
    reader_texts,
    refuse_argument,
    reply,
    stale_button,
)
from handlers.i18n import LANGUAGES, Texts, texts_for, texts_in
from handlers.permissions import NO_RIGHT_TO_POST, AdminChecks, command_target, may_change_chat
from news.delivery import clock_text, parse_quiet_hours
from news.errors import N_
from news.model import ChatSettings, PreviewMode
from news.ports import Chats

SETTINGS_PREFIX = "set"
# The menu's entry (see `handlers.routes.command_menu`).
SETTINGS_COMMANDS = (
    # Translators: /settings in the command menu beside the message box: what it changes.
    ("settings", N_("Previews, sound, quiet hours, language")),
)
#: Quiet hours offered on buttons, as (start, end) minutes after midnight; others are typed.
QUIET_PRESETS = ((22 * 60, 7 * 60), (23 * 60, 7 * 60), (0, 8 * 60))
# Each language by its own name: a reader finds theirs whatever language the bot speaks now.
LANGUAGE_NAMES = {
    "en": "English",
    "uk": "Українська",
    "ru": "Русский",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
}
_PREVIEWS: tuple[PreviewMode, ...] = ("off", "small", "large")
_PREVIEW_OF: dict[str, PreviewMode] = {mode: mode for mode in _PREVIEWS}


def _data(chat_id: int, setting: str, value: str) -> str:
    return f"{SETTINGS_PREFIX}:{chat_id}:{setting}:{value}"


def _parse_data(data: str) -> tuple[int, str, str] | None:
    parts = data.split(":")
    if len(parts) != 4 or parts[0] != SETTINGS_PREFIX:
        return None
    chat = parts[1].removeprefix("-")
    if not (chat.isascii() and chat.isdecimal() and len(chat) <= 18):
        return None
    return int(parts[1]), parts[2], parts[3]


def _quiet_text(start: int | None, end: int | None) -> str:
    return "—" if start is None or end is None else f"{clock_text(start)}–{clock_text(end)}"


def _marked(label: str, chosen: bool) -> str:
    return f"✓ {label}" if chosen else label


def settings_text(current: ChatSettings, texts: Texts, channel: str | None) -> str:
    """The settings message: whose they are and what each is now."""
    _ = texts._
    # Each value is translated in the context of its setting: a language may give "off" the
    # gender or number of the setting's name ("Предпросмотр: выключен", "Тихие часы: нет").
    previews = {
        # Translators: the value of "Link previews: {mode}" when pushes show no preview.
        "off": texts.pgettext("link previews", "off"),
        # Translators: the value of "Link previews: {mode}": a small preview under the text.
        "small": texts.pgettext("link previews", "small"),
        # Translators: the value of "Link previews: {mode}": a large image above the text.
        "large": texts.pgettext("link previews", "large image above the text"),
    }
    quiet = (
        f"{_quiet_text(current.quiet_start, current.quiet_end)} ({current.timezone or 'UTC'})"
        if current.quiet_start is not None
        # Translators: the value of "Quiet hours: {hours}" when the chat has none.
        else texts.pgettext("quiet hours", "off")
    )
    language = (
        LANGUAGE_NAMES.get(current.chosen_language, current.chosen_language)
        if current.chosen_language
        # Translators: the value of "Language: {language}" when the bot writes in the language
        # of whoever uses it (their Telegram app's), not one chosen here.
        else texts.pgettext("language", "automatic")
    )
    silent = (
        # Translators: the value of "Silent pushes: {state}": pushes arrive without sound.
        texts.pgettext("silent pushes", "on")
        if current.silent
        # Translators: the value of "Silent pushes: {state}": pushes arrive with sound.
        else texts.pgettext("silent pushes", "off")
    )
    # Translators: the heading of /settings for a channel run from this private chat; {channel}
    # is the channel's @username, or its title when it has none.
    title = _("Settings of {channel}", channel=channel) if channel else _("Settings of this chat")
    return "\n".join(
        (
            f"<b>{title}</b>",
            # Translators: a line of /settings; {mode} is one of the "link previews" values
            # ("off", "small", "large image above the text").
            _("Link previews: {mode}", mode=previews[current.preview]),
            # Translators: a line of /settings: do pushes arrive without a notification sound
            # (Telegram's "Send without sound")? {state} is "on" or "off" ("silent pushes").
            _("Silent pushes: {state}", state=silent),
            # Translators: a line of /settings; {hours} is a span such as "23:00–07:00
            # (Europe/Kyiv)", or "off" ("quiet hours").
            _("Quiet hours: {hours}", hours=quiet),
            # Translators: a line of /settings; {language} is a language's own name
            # ("Deutsch", "Українська") or "automatic" ("language").
            _("Language: {language}", language=language),
            "",
            _(
                "During quiet hours pushes wait and come as one message when they end. Other "
                "hours: <code>/settings quiet 23:00-07:00</code> (your /timezone)."
            ),
        )
    )


def settings_keyboard(current: ChatSettings, texts: Texts) -> InlineKeyboardMarkup:
    """The buttons: one row a setting (two for languages), the current choice ticked."""
    _, chat = texts._, current.chat_id
    labels = {
        # Translators: a button of /settings: pushes show no link preview.
        "off": _("No preview"),
        # Translators: a button of /settings: pushes show a small link preview.
        "small": _("Small preview"),
        # Translators: a button of /settings: pushes show a large image above the text.
        "large": _("Large image"),
    }
    previews = [
        InlineKeyboardButton(
            _marked(labels[mode], current.preview == mode), callback_data=_data(chat, "p", mode)
        )
        for mode in _PREVIEWS
    ]
    sound = InlineKeyboardButton(
        # Translators: the /settings button that switches the sound of pushes: it shows the
        # current state, silent (Telegram's "without sound") or with sound; a press switches it.
        _("🔕 Silent: on")
        if current.silent
        # Translators: see "🔕 Silent: on": the state when pushes come with sound.
        else _("🔔 Silent: off"),
        callback_data=_data(chat, "s", "0" if current.silent else "1"),
    )
    quiet = [
        InlineKeyboardButton(
            # Translators: a button of /settings, beside buttons such as "23:00–07:00".
            _marked(_("No quiet hours"), current.quiet_start is None),
            callback_data=_data(chat, "q", "off"),
        ),
        *(
            InlineKeyboardButton(
                _marked(
                    _quiet_text(start, end),
                    (current.quiet_start, current.quiet_end) == (start, end),
                ),
                callback_data=_data(chat, "q", f"{start}-{end}"),
            )
            for start, end in QUIET_PRESETS
        ),
    ]
    languages = [
        InlineKeyboardButton(
            # Translators: a button of /settings, before the languages' names: the bot writes
            # in each user's own language (their Telegram app's).
            _marked(
                texts.pgettext("language button", "Automatic"), current.chosen_language is None
            ),
            callback_data=_data(chat, "l", "auto"),
        ),
        *(
            InlineKeyboardButton(
                _marked(LANGUAGE_NAMES[code], current.chosen_language == code),
                callback_data=_data(chat, "l", code),
            )
            for code in LANGUAGES
        ),
    ]
    return InlineKeyboardMarkup(
        [previews, [sound], quiet[:2], quiet[2:], languages[:4], languages[4:]]
    )


def build_settings_handlers(
    services: Services, checks: AdminChecks
) -> list[CommandCallbackHandler]:
    """/settings and its buttons."""
    storage: Chats = services.storage

    async def known(chat_id: int, kind: str, title: str | None) -> ChatSettings:
        current = await storage.chat_settings(chat_id)
        if current is None:
            await storage.upsert_chat(chat_id, kind=kind, title=title, now=services.clock())
            current = await storage.chat_settings(chat_id)
        assert current is not None, "a chat just stored is found"
        return current

    async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (found := await command_target(update, context, checks, context.args or ())) is None:
            return
        target, words = found
        texts = reader_texts(update)
        current = await known(target.chat_id, target.kind, target.title)
        if words:
            if words[0].lower() != "quiet":
                await reply(
                    update,
                    texts._(
                        "Send /settings for the buttons, or /settings quiet 23:00-07:00 "
                        "(or off) for other quiet hours."
                    ),
                )
                return
            if target.channel is None and not await may_change_chat(update, context, checks):
                return
            argument = " ".join(words[1:]).strip()
            if argument.lower() == "off":
                await storage.set_quiet_hours(target.chat_id, None, None)
            elif (hours := parse_quiet_hours(argument)) is None:
                await refuse_argument(
                    update,
                    texts,
                    # Translators: {hours} is what the user typed after /settings quiet.
                    N_(
                        "“{hours}” is not a span of quiet hours. Write two different times "
                        "of day, 24-hour clock: /settings quiet 23:00-07:00 (or off)."
                    ),
                    hours=argument,
                )
                return
            else:
                await storage.set_quiet_hours(target.chat_id, *hours)
            current = await known(target.chat_id, target.kind, target.title)
        message = update.effective_message
        if message is not None:
            await message.reply_text(
                settings_text(current, texts, target.channel),
                parse_mode=ParseMode.HTML,
                do_quote=False,
                reply_markup=settings_keyboard(current, texts),
            )

    async def refusal(
        update: Update, context: ContextTypes.DEFAULT_TYPE, chat_id: int, texts: Texts
    ) -> str | None:
        """Why the presser may not change `chat_id`'s settings from where they pressed; None
        when they may. Raises `TelegramError` when Telegram could not be asked."""
        chat, user = update.effective_chat, update.effective_user
        only_admins = texts._("Only this group's admins can change this.")
        if chat is None or user is None:
            return only_admins
        if chat.id == chat_id and chat.type == ChatType.PRIVATE:
            return None
        if chat.id == chat_id and chat.type != ChatType.CHANNEL:  # a group: its admins
            return None if await checks.is_admin(context.bot, chat_id, user.id) else only_admins
        if chat.id != chat_id and chat.type != ChatType.PRIVATE:
            return only_admins  # a button naming another chat: only channels are run from afar
        # A channel's, pressed in the channel (where every reader sees the buttons) or in a
        # private chat: those who may manage it (`handlers.permissions`).
        standing = await checks.standing(context.bot, chat_id, user.id)
        if standing.posts:
            return None
        if not standing.admin:
            return only_admins
        name = (
            f"@{chat.username}"
            if chat.id == chat_id and chat.username
            else await channel_name(context, chat_id)
        )
        return texts._(NO_RIGHT_TO_POST, channel=name)

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        press = button_press(update, _parse_data)
        if press is None:
            return
        callback, texts, parsed = press
        message = callback.message
        if parsed is None or not isinstance(message, Message):
            await callback.answer(texts._("This button no longer works. Send /settings."))
            return
        chat_id, setting, value = parsed
        try:
            refused = await refusal(update, context, chat_id, texts)
        except BadRequest:  # a chat Telegram does not know: forged, or the bot was removed
            await callback.answer(texts._("This button no longer works. Send /settings."))
            return
        except TelegramError:
            await callback.answer(
                texts._(
                    "I could not check who may change this: Telegram did not answer. "
                    "Please try again in a minute."
                ),
                show_alert=True,
            )
            return
        if refused is not None:
            await callback.answer(refused, show_alert=True)
            return
        if not await apply(chat_id, setting, value):
            await callback.answer(texts._("This button no longer works. Send /settings."))
            return
        current = await storage.chat_settings(chat_id)
        if current is None:
            await callback.answer(texts._("This button no longer works. Send /settings."))
            return
        if setting == "l" and message.chat_id == chat_id:
            # The chat's new language, at once: the message and the answer are read in it.
            user = update.effective_user
            texts = (
                texts_in(current.chosen_language)
                if current.chosen_language
                else texts_for(user.language_code if user else None)
            )
        # Translators: a button's notice once a setting is changed.
        await callback.answer(texts._("Saved."))
        channel = None if message.chat_id == chat_id else await channel_name(context, chat_id)
        try:
            await message.edit_text(
                settings_text(current, texts, channel),
                parse_mode=ParseMode.HTML,
                reply_markup=settings_keyboard(current, texts),
            )
        except BadRequest as error:
            if not stale_button(error):  # pressed what was already chosen, or a gone message
                raise

    async def channel_name(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> str:
        try:
            found = await context.bot.get_chat(chat_id)
        except TelegramError:
            return str(chat_id)
        return f"@{found.username}" if found.username else escape(found.title or str(chat_id))

    async def apply(chat_id: int, setting: str, value: str) -> bool:
        """Store one button's choice; False when the data is not one of the buttons'."""
        if setting == "p" and value in _PREVIEWS:
            await storage.set_preview(chat_id, _PREVIEW_OF[value])
        elif setting == "s" and value in ("0", "1"):
            await storage.set_silent(chat_id, value == "1")
        elif setting == "q" and value == "off":
            await storage.set_quiet_hours(chat_id, None, None)
        elif setting == "q" and (hours := _preset(value)) is not None:
            await storage.set_quiet_hours(chat_id, *hours)
        elif setting == "l" and (value == "auto" or value in LANGUAGES):
            await storage.set_chosen_language(chat_id, None if value == "auto" else value)
        else:
            return False
        return True

    return [
        command_handler("settings", settings),
        CallbackQueryHandler(press, pattern=f"^{SETTINGS_PREFIX}:"),
    ]


def _preset(value: str) -> tuple[int, int] | None:
    for start, end in QUIET_PRESETS:
        if value == f"{start}-{end}":
            return start, end
    return None
