"""Telegram's side of a webhook, for tests: updates POSTed to the bot's webhook server.

With a webhook set, Telegram sends each update as a JSON POST to the URL given to setWebhook,
with that call's `secret_token` in the `X-Telegram-Bot-Api-Secret-Token` header. The URL a bot
registers is public HTTPS, served by a reverse proxy in front of the bot; a test stands in for
Telegram and that proxy together and posts to the bot's own server on loopback.

Updates are made by the fake Bot API as for long polling (`FakeBotApi.inject_message` and the
like queue them there, and the fake knows the chats they come from); `deliver` posts one of them.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from .telegram import FakeBotApi

SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"


class _Recorded:
    """The secret given to setWebhook (the default of `deliver`)."""


RECORDED: Final = _Recorded()


async def post_update(url: str, update: Mapping[str, Any], *, secret: str | None) -> int:
    """POST `update` to the webhook server at `url`, with `secret` in the header (None: no
    header at all); the HTTP status the server answered."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url, content=json.dumps(update), headers=headers)
    return response.status_code


async def deliver(
    telegram: FakeBotApi,
    update_id: int,
    url: str,
    *,
    secret: str | _Recorded | None = RECORDED,
) -> int:
    """Post the update `telegram` queued as `update_id` to the webhook server at `url`, as
    Telegram does with the secret given to setWebhook, or with another `secret` (None: none);
    the HTTP status the server answered."""
    update = next(u for u in telegram.pending_updates if u["update_id"] == update_id)
    if isinstance(secret, _Recorded):
        secret = telegram.webhook_secret
    return await post_update(url, update, secret=secret)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a webhook server to take."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_listening(url: str) -> None:
    """Wait until something accepts connections at `url`'s host and port (a server started by
    another process: python-telegram-bot listens right after its setWebhook call); give it a
    deadline with `asyncio.timeout`."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
