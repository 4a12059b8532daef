"""Every Telegram handler of the bot, in the order they are tried, and the bot's command menu.

The menu is set in every language the bot speaks (`setMyCommands` with its `language_code`) and
in English for everyone else.

The composition root (`bot.app`) registers what `build_handlers` returns and nothing else, so a
new command is added here and in its own module only.
"""

from __future__ import annotations

from telegram import Bot, BotCommand

from handlers.admin import build_admin_handlers
from handlers.commands import COMMANDS, build_command_handlers, unknown_command_handler
from handlers.common import CommandCallbackHandler, Services, chat_language_handler, on_error
from handlers.controls import CONTROL_COMMANDS, build_control_handlers
from handlers.details import build_details_handlers
from handlers.i18n import LANGUAGES, Texts, english, texts_in
from handlers.inline import build_inline_handlers
from handlers.latest import build_latest_handlers
from handlers.permissions import AdminChecks
from handlers.settings import SETTINGS_COMMANDS, build_settings_handlers
from news.feeds.fetch import Fetcher

__all__ = [
    "Services",
    "build_handlers",
    "chat_language_handler",
    "command_menu",
    "on_error",
    "set_command_menus",
]


def command_menu(texts: Texts) -> tuple[BotCommand, ...]:
    """The menu Telegram shows beside the message box, in one language."""
    return tuple(
        BotCommand(command, texts._(description))
        for command, description in (*COMMANDS, *CONTROL_COMMANDS, *SETTINGS_COMMANDS)
    )


async def set_command_menus(bot: Bot) -> None:
    """Set the menu in each language the bot speaks, and in English for users of any other."""
    await bot.set_my_commands(command_menu(english()))
    for language in LANGUAGES:
        await bot.set_my_commands(command_menu(texts_in(language)), language_code=language)


def build_handlers(
    services: Services, *, fetcher: Fetcher | None, allow_private: bool
) -> list[CommandCallbackHandler]:
    """The handlers in the order they are tried: the first whose filter matches takes the update.

    `fetcher` and `allow_private` serve the admins' /addsource, which checks a feed before adding
    (without the bot's shared fetcher, with one of its own).
    """
    checks = AdminChecks(services.clock)  # one cache for every command that needs an admin
    return [
        *build_command_handlers(services, checks),
        *build_latest_handlers(services),
        *build_details_handlers(services),
        *build_inline_handlers(services),
        *build_control_handlers(services, checks),
        *build_settings_handlers(services, checks),
        *build_admin_handlers(services, fetcher=fetcher, allow_private=allow_private),
        unknown_command_handler(),
    ]
