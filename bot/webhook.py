"""How `newsbot run` receives updates: long polling (the default) or a webhook.

With `NEWSBOT_WEBHOOK_URL` set, the bot's own aiohttp server (`bot.http_server`) takes Telegram's
POSTs at the URL's path on `NEWSBOT_WEBHOOK_LISTEN`:`NEWSBOT_WEBHOOK_PORT` (default
`127.0.0.1:8443`, behind a reverse proxy): beside `/healthz` and `/metrics` on one server when
`NEWSBOT_HTTP_LISTEN`:`NEWSBOT_HTTP_PORT` is the same address and port, else on a server of its
own. At start the bot listens, then calls setWebhook with the URL, the secret and the updates it
handles, then starts the application (the steps of python-telegram-bot's `run_webhook`, whose
tornado server it replaces).

Telegram sends the secret in the `X-Telegram-Bot-Api-Secret-Token` header of every update. Each
request is judged on its headers alone, before a byte of its body is read:

- without the secret, or with another (compared in constant time), 403;
- a `Content-Length` over `BODY_LIMIT` (1 MB; Telegram's updates are a few KB), 413;
- before the bot takes updates or once it is stopping, 503 (Telegram delivers it again later).

Each of these answers closes the connection, so the unread body is never drained. The body of
an accepted request is read up to `BODY_LIMIT` (a chunked body that runs over gets 413) within
`BODY_TIMEOUT`, parsed as an `Update` and put on the application's update queue, as
python-telegram-bot's custom webhook example does; a body that is not an update is answered 400
and logged in one line. `Expect: 100-continue` is answered only once the headers pass. Header
timeout and connection cap: `bot.http_server`.

Without `NEWSBOT_WEBHOOK_SECRET` a random secret is made at every start: setWebhook replaces the
old one, so only the process that started last is believed (set the secret when more than one
process serves the webhook).

getUpdates is never called in webhook mode (Telegram refuses it while a webhook is set); back in
long polling, python-telegram-bot deletes the webhook before polling.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from telegram import Update
from telegram.ext import Application

from bot.http_server import HardenedServer, ServerLimits
from bot.logs import mask_secret
from bot.settings import Settings, WebhookSettings

logger = logging.getLogger(__name__)

#: The updates the bot handles; Telegram sends no others (getUpdates and setWebhook alike).
ALLOWED_UPDATES = ("message", "channel_post", "callback_query", "inline_query")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: The largest body read; Telegram's updates are a few KB (a message's text is at most 4,096
#: characters).
BODY_LIMIT = 1024 * 1024
#: Seconds an accepted body has to arrive in full.
BODY_TIMEOUT = 10.0
#: Telegram's default: HTTPS connections it opens to the webhook at once (setWebhook's
#: max_connections, as python-telegram-bot's run_webhook passed it).
TELEGRAM_CONNECTIONS = 40


def new_secret() -> str:
    """A random secret in Telegram's alphabet (A-Z, a-z, 0-9, _ and -): 43 characters."""
    return secrets.token_urlsafe(32)


def _closing(status: int, text: str) -> web.Response:
    """An answer that closes the connection after it: the body, if any, is never read."""
    response = web.Response(status=status, text=text)
    response.force_close()
    return response


class _TooLarge(Exception):
    pass


@dataclass(eq=False, kw_only=True)
class WebhookEndpoint:
    """The webhook's route: judges each POST on its headers, then queues the update."""

    webhook: WebhookSettings
    secret: str
    body_limit: int = BODY_LIMIT
    body_timeout: float = BODY_TIMEOUT
    # Set by `attach`; updates go to its queue.
    application: Application | None = field(default=None, repr=False)  # type: ignore[type-arg]
    # True from just before setWebhook until stopping; updates outside it are answered 503.
    accepting: bool = False

    @classmethod
    def for_settings(cls, settings: Settings) -> WebhookEndpoint | None:
        """The endpoint of webhook mode; None in long polling."""
        if settings.webhook is None:
            return None
        secret = settings.webhook.secret or new_secret()
        mask_secret(secret, "<WEBHOOK-SECRET>")
        return cls(webhook=settings.webhook, secret=secret)

    def attach(self, application: Application) -> None:  # type: ignore[type-arg]
        self.application = application

    def shares_server_with_health(self, settings: Settings) -> bool:
        """Whether the webhook is served beside /healthz: same address and port."""
        return (settings.http_listen, settings.http_port) == (
            self.webhook.listen,
            self.webhook.port,
        )

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.webhook.path, self._handle, expect_handler=self._expect)

    def _refusal(self, request: web.Request) -> web.Response | None:
        """The answer to a request its headers alone condemn; None when its body may be read."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        # Constant time: how much of a guess matches is not told by how fast it is refused.
        if not hmac.compare_digest(given, self.secret.encode()):
            return _closing(403, "Forbidden")
        if request.content_length is not None and request.content_length > self.body_limit:
            return _closing(413, "Payload Too Large")
        if not self.accepting or self.application is None:
            return _closing(503, "Not taking updates now")
        return None

    async def _expect(self, request: web.Request) -> web.StreamResponse | None:
        """`Expect: 100-continue`: the client sends its body only if the headers pass."""
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if request.version != HttpVersion11:
            return None
        if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text="Unknown Expect")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        assert self.application is not None
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._read_body(request)
        except _TooLarge:
            return _closing(413, "Payload Too Large")
        except TimeoutError:
            return _closing(408, "Request Timeout")
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            update = Update.de_json(data, self.application.bot)
        except Exception as error:  # malformed JSON or an object that is no update: many kinds
            logger.warning(
                "webhook: a request with the secret whose body is not an update (%d bytes), "
                "answered 400: %s",
                len(body),
                f"{type(error).__name__}: {str(error)[:200]}",
            )
            return web.Response(status=400, text="Not an update")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    async def _read_body(self, request: web.Request) -> bytes:
        """The body, refused as soon as it runs over the limit (chunked bodies say no length)."""
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > self.body_limit:
                raise _TooLarge
        return bytes(body)


def receive_updates(
    application: Application,  # type: ignore[type-arg]
    endpoint: WebhookEndpoint | None,
    settings: Settings,
) -> None:
    """Run `application` until Ctrl-C or SIGTERM, its updates by webhook (`endpoint`) or, with
    none, long polling."""
    if endpoint is None:
        application.run_polling(allowed_updates=list(ALLOWED_UPDATES), close_loop=False)
        return
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:  # no current loop (Python 3.14): as python-telegram-bot does
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    loop.run_until_complete(serve_webhook(application, endpoint, settings))


async def serve_webhook(
    application: Application,  # type: ignore[type-arg]
    endpoint: WebhookEndpoint,
    settings: Settings,
    *,
    limits: ServerLimits | None = None,
) -> None:
    """The steps of `run_webhook()` on the bot's own server: initialize, post_init (which starts
    the health server, with the webhook's route when they share a port), listen, setWebhook,
    start; on SIGINT or SIGTERM stop taking updates, stop, post_stop, shutdown, post_shutdown."""
    # Imported here: bot.app imports this module for receive_updates.
    from bot.app import serve_until_stopped, stop_application

    webhook = endpoint.webhook
    shared = endpoint.shares_server_with_health(settings)
    endpoint.attach(application)
    server: HardenedServer | None = None

    async def start() -> None:
        nonlocal server
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        if not shared:
            server = HardenedServer(webhook.listen, webhook.port, limits)
            endpoint.add_routes(server.app)
            await server.start()
        logger.info(
            "Webhook mode: Telegram posts updates to %s; listening on %s:%d at %s%s (%s)",
            webhook.url,
            webhook.listen,
            webhook.port,
            webhook.path,
            " beside /healthz and /metrics" if shared else "",
            "NEWSBOT_WEBHOOK_SECRET" if webhook.secret else "a secret made for this start",
        )
        # Updates that come before the application starts wait in its queue.
        endpoint.accepting = True
        await application.bot.set_webhook(
            url=webhook.url,
            allowed_updates=list(ALLOWED_UPDATES),
            secret_token=endpoint.secret,
            max_connections=TELEGRAM_CONNECTIONS,
        )
        await application.start()

    async def stop() -> None:
        # First no more updates (Telegram delivers those refused now again later), as
        # run_webhook stops its server before the application.
        endpoint.accepting = False
        if server is not None:
            await server.stop()
        await stop_application(application)

    await serve_until_stopped(start, stop)
