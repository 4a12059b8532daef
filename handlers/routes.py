"""Every Telegram handler of the bot, in the order they are tried, and the bot's command menu.

The composition root (`bot.app`) registers what `build_handlers` returns and nothing else, so a
new command is added here and in its own module only.
"""

from __future__ import annotations

from telegram import BotCommand

from handlers.admin import build_admin_handlers
from handlers.commands import COMMANDS, build_command_handlers, unknown_command_handler
from handlers.common import CommandCallbackHandler, Services, on_error
from handlers.controls import CONTROL_COMMANDS, build_control_handlers
from handlers.details import build_details_handlers
from handlers.latest import build_latest_handlers
from news.fetch import Fetcher

__all__ = ["COMMAND_MENU", "Services", "build_handlers", "on_error"]

#: The menu Telegram shows beside the message box.
COMMAND_MENU: tuple[BotCommand, ...] = (*COMMANDS, *CONTROL_COMMANDS)


def build_handlers(
    services: Services, *, fetcher: Fetcher | None, allow_private: bool
) -> list[CommandCallbackHandler]:
    """The handlers in the order they are tried: the first whose filter matches takes the update.

    `fetcher` and `allow_private` serve the admins' /addsource, which checks a feed before adding
    (without the bot's shared fetcher, with one of its own).
    """
    return [
        *build_command_handlers(services),
        *build_latest_handlers(services),
        *build_details_handlers(services),
        *build_control_handlers(services),
        *build_admin_handlers(services, fetcher=fetcher, allow_private=allow_private),
        unknown_command_handler(),
    ]
