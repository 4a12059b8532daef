"""The bot's HTTP servers hold against connections that stall them (`bot.http_server`).

The health server (`/healthz`, `/metrics`) and the webhook's route run on loopback in this
process with short limits (a 1 s header timeout, a cap of 20 connections) so that nothing waits
long; `tests/test_webhook.py` measures the defaults on the real `newsbot run`. A slowloris is a
raw socket sending a request's headers a byte at a time; idle connections are sockets that send
nothing, or half a request line.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import cast

import aiohttp
import pytest
from telegram import Update
from telegram.ext import Application

from bot.health import HealthServer
from bot.http_server import HardenedServer, ServerLimits
from bot.metrics import Metrics
from bot.settings import WebhookSettings
from bot.webhook import SECRET_HEADER, WebhookEndpoint
from news.ports import Storage

LIMITS = ServerLimits(header_timeout=1.0, max_connections=20)
SECRET = "in-process-secret_0123456789"
WEBHOOK_PATH = "/telegram"


class _AnsweringStorage:
    """The one question /healthz asks the database."""

    async def ping(self) -> None:
        return None


def health_server(limits: ServerLimits) -> HealthServer:
    """A health server on a free loopback port whose database always answers."""
    return HealthServer(
        role="all",
        listen="127.0.0.1",
        port=0,
        storage=cast(Storage, _AnsweringStorage()),
        metrics=Metrics("all", "test"),
        loop_checks=dict,
        clock=lambda: datetime.now(UTC),
        outbox=False,
        sources=False,
        limits=limits,
    )


@pytest.fixture
async def health_port() -> AsyncIterator[int]:
    server = health_server(LIMITS)
    await server.start()
    try:
        yield server.bound_port
    finally:
        await server.stop()


@pytest.fixture
async def webhook_server() -> AsyncIterator[tuple[HardenedServer, Application]]:  # type: ignore[type-arg]
    application = Application.builder().token("123:in-process").updater(None).build()
    endpoint = WebhookEndpoint(
        webhook=WebhookSettings("https://bot.example.org/telegram"), secret=SECRET
    )
    endpoint.attach(application)
    endpoint.accepting = True
    server = HardenedServer("127.0.0.1", 0, LIMITS)
    endpoint.add_routes(server.app)
    await server.start()
    try:
        yield server, application
    finally:
        await server.stop()


async def closed_within(reader: asyncio.StreamReader, deadline: float) -> bool:
    """Whether the server closes the connection within `deadline` seconds (anything it sends
    before is read and dropped)."""
    try:
        async with asyncio.timeout(deadline):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def slowloris(port: int, request: bytes, interval: float) -> tuple[float, int]:
    """Send `request` a byte every `interval` s until the server closes the connection: the
    seconds it stayed open and the bytes sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    sent = 0
    try:
        for byte in request:
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(bytes([byte]))
            try:
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
            if await closed_within(reader, interval):
                break
        return time.monotonic() - started, sent
    finally:
        writer.close()


def endless_headers(path: str) -> bytes:
    """A request whose headers would go on for far longer than any timeout."""
    return f"POST {path} HTTP/1.1\r\nHost: bot\r\n".encode() + b"X-Padding: " + b"a" * 10_000


@pytest.mark.parametrize("server", ["health", "webhook"])
async def test_a_slowloris_sending_headers_a_byte_at_a_time_is_cut_off_at_the_header_timeout(
    server: str,
    health_port: int,
    webhook_server: tuple[HardenedServer, Application],  # type: ignore[type-arg]
) -> None:
    port = health_port if server == "health" else webhook_server[0].port
    path = "/healthz" if server == "health" else WEBHOOK_PATH
    open_for, sent = await slowloris(port, endless_headers(path), interval=0.05)
    print(f"\n{server}: a slowloris was cut off after {open_for:.2f} s and {sent} bytes")
    assert LIMITS.header_timeout - 0.1 <= open_for <= LIMITS.header_timeout + 1.0


async def idle_connections(
    port: int, count: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """`count` connections that never finish a request: every other one sends half of one.
    (Their writers are kept: a writer that is garbage collected closes its connection.)"""
    connections = []
    for index in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if index % 2:
            writer.write(b"GET /healthz HTTP/1.1\r\nHo")
        connections.append((reader, writer))
    return connections


async def get(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(5)) as answer,
    ):
        await answer.read()
        return answer.status, time.monotonic() - started


async def test_idle_connections_over_the_cap_do_not_keep_healthz_out(health_port: int) -> None:
    """70 idle connections against a cap of 20 (and a header timeout too long to help): each
    newcomer closes the oldest idler, so /healthz is answered at once."""
    slow = ServerLimits(header_timeout=30.0, max_connections=LIMITS.max_connections)
    server = health_server(slow)
    await server.start()
    try:
        port = server.bound_port
        idle = await idle_connections(port, slow.max_connections + 50)
        status, seconds = await get(port, "/healthz")
        closed = [await closed_within(reader, 0.1) for reader, _ in idle]
        for _, writer in idle:
            writer.close()
    finally:
        await server.stop()
    print(f"\n/healthz answered in {seconds:.3f} s beside {len(idle)} idle connections")
    assert status == 200 and seconds < 1.0
    # The oldest idlers made room; the newest (cap minus the probe's) are still open.
    assert closed[:50] == [True] * 50
    assert closed[51:] == [False] * (slow.max_connections - 1)


async def test_when_every_connection_is_in_a_request_a_new_one_is_closed_at_once(
    webhook_server: tuple[HardenedServer, Application],  # type: ignore[type-arg]
) -> None:
    """Requests in progress are never cut for a newcomer: at the cap, with every connection
    sending an authenticated body, a new connection is closed as soon as it is accepted."""
    server, _ = webhook_server
    writers = []
    for _ in range(LIMITS.max_connections):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: bot\r\n{SECRET_HEADER}: {SECRET}\r\n"
            "Content-Length: 1000\r\n\r\n{".encode()
        )
        await writer.drain()
        writers.append(writer)
    await asyncio.sleep(0.2)  # every handler is reading its body
    assert server.connections == LIMITS.max_connections
    reader, newcomer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    assert await closed_within(reader, 1.0)
    print(f"\nat the cap, a new connection was closed in {time.monotonic() - started:.3f} s")
    newcomer.close()
    for writer in writers:
        writer.close()


async def post(
    port: int, body: bytes | Callable[[], AsyncIterator[bytes]], headers: dict[str, str]
) -> int:
    data = io.BytesIO(body) if isinstance(body, bytes) else body()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}{WEBHOOK_PATH}", data=data, headers=headers
        ) as answer,
    ):
        return answer.status


async def test_the_webhook_route_refuses_on_headers_and_caps_bodies_while_reading(
    webhook_server: tuple[HardenedServer, Application],  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, application = webhook_server
    chat = {"id": 5, "type": "private"}
    update = {
        "update_id": 7,
        "message": {"message_id": 1, "date": 0, "chat": chat, "text": "/start"},
    }

    async def chunked_2_mb() -> AsyncIterator[bytes]:
        for _ in range(32):
            yield b" " * 65536

    same_length = SECRET[:-1] + ("x" if SECRET[-1] != "x" else "y")
    answers = {
        "no secret": await post(server.port, json.dumps(update).encode(), {}),
        "same-length wrong secret": await post(
            server.port, json.dumps(update).encode(), {SECRET_HEADER: same_length}
        ),
        "2 MB by length": await post(server.port, b" " * 2_000_000, {SECRET_HEADER: SECRET}),
        "2 MB chunked": await post(server.port, chunked_2_mb, {SECRET_HEADER: SECRET}),
        "bad JSON": await post(server.port, b'{"update_id": ', {SECRET_HEADER: SECRET}),
        "an update": await post(server.port, json.dumps(update).encode(), {SECRET_HEADER: SECRET}),
    }
    assert answers == {
        "no secret": 403,
        "same-length wrong secret": 403,
        "2 MB by length": 413,
        "2 MB chunked": 413,
        "bad JSON": 400,
        "an update": 200,
    }
    queued = application.update_queue.get_nowait()
    assert isinstance(queued, Update)
    assert queued.update_id == 7 and queued.message is not None
    assert queued.message.text == "/start"
    assert application.update_queue.empty(), "only the update with the secret was queued"
    (warning,) = [r for r in caplog.records if r.name == "bot.webhook"]
    assert "400" in warning.getMessage() and warning.exc_info is None
    assert SECRET not in caplog.text


async def test_expect_100_continue_is_answered_only_when_the_headers_pass(
    webhook_server: tuple[HardenedServer, Application],  # type: ignore[type-arg]
) -> None:
    server, _ = webhook_server

    async def first_answer(headers: str) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: bot\r\nExpect: 100-continue\r\n"
            f"Content-Length: 50000000\r\n{headers}\r\n".encode()
        )
        line = await asyncio.wait_for(reader.readline(), 2)
        writer.close()
        return line

    assert (await first_answer("")).startswith(b"HTTP/1.1 403 ")
    assert (await first_answer(f"{SECRET_HEADER}: {SECRET}\r\n")).startswith(b"HTTP/1.1 413 ")
