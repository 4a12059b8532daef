"""How `newsbot run` receives updates: long polling (the default) or a webhook.

With `NEWSBOT_WEBHOOK_URL` set, python-telegram-bot's own webhook server (tornado) listens on
`NEWSBOT_WEBHOOK_LISTEN`:`NEWSBOT_WEBHOOK_PORT` at the URL's path, and at start the bot calls
setWebhook with the URL, the secret and the updates it handles. Telegram then sends the secret
in the `X-Telegram-Bot-Api-Secret-Token` header of every update; the server refuses a request
without it, or with another, with 403 before reading it. Without `NEWSBOT_WEBHOOK_SECRET` a
random secret is made at every start: setWebhook replaces the old one, so only the process that
started last is believed (set the secret when more than one process serves the webhook).

getUpdates is never called in webhook mode (Telegram refuses it while a webhook is set); back in
long polling, python-telegram-bot deletes the webhook before polling.
"""

from __future__ import annotations

import logging
import re
import secrets

from telegram.ext import Application

from bot.logs import mask_secret
from bot.settings import Settings, WebhookSettings

logger = logging.getLogger(__name__)

#: The updates the bot handles; Telegram sends no others (getUpdates and setWebhook alike).
ALLOWED_UPDATES = ("message", "channel_post", "callback_query", "inline_query")


def new_secret() -> str:
    """A random secret in Telegram's alphabet (A-Z, a-z, 0-9, _ and -): 43 characters."""
    return secrets.token_urlsafe(32)


def receive_updates(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Run `application` until Ctrl-C or SIGTERM, its updates by webhook or long polling."""
    if settings.webhook is None:
        application.run_polling(allowed_updates=list(ALLOWED_UPDATES), close_loop=False)
        return
    _run_webhook(application, settings.webhook)


def _run_webhook(application: Application, webhook: WebhookSettings) -> None:  # type: ignore[type-arg]
    secret = webhook.secret or new_secret()
    mask_secret(secret, "<WEBHOOK-SECRET>")
    logger.info(
        "Webhook mode: Telegram posts updates to %s; listening on %s:%d at %s (%s)",
        webhook.url,
        webhook.listen,
        webhook.port,
        webhook.path,
        "NEWSBOT_WEBHOOK_SECRET" if webhook.secret else "a secret made for this start",
    )
    application.run_webhook(
        listen=webhook.listen,
        port=webhook.port,
        # python-telegram-bot routes the path as a regular expression.
        url_path=re.escape(webhook.path),
        webhook_url=webhook.url,
        secret_token=secret,
        allowed_updates=list(ALLOWED_UPDATES),
        close_loop=False,
    )
