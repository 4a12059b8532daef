"""Webhook mode as an operator runs it: the real `newsbot run` with NEWSBOT_WEBHOOK_URL set.

The fake Bot API records setWebhook; the test then plays Telegram (and the reverse proxy in
front of the bot) and posts updates to the bot's webhook server on loopback, with the secret,
without it and with a wrong one; and plays an attacker who posts 95 MB bodies without the
secret, 2 MB bodies with it, or sends headers a byte a second, while the bot's memory (its
/proc status) and its answers to a real user are watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import select
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest

from bot.http_server import HEADER_TIMEOUT, MAX_CONNECTIONS
from tests.fakes.telegram import FakeBotApi
from tests.fakes.webhook import SECRET_HEADER, deliver, free_port, wait_until_listening
from tests.harness import http_get, start_newsbot_run, wait_for_healthz

WEBHOOK_URL = "https://newsbot.example.org/telegram"
SECRET = "operator-set_Secret-42"
ALICE, BOB, CAROL = 1001, 1002, 1003
WITH_SECRET = {"NEWSBOT_WEBHOOK_SECRET": SECRET}


async def run_until_webhook_set(
    telegram: FakeBotApi,
    tmp_path: Path,
    env: dict[str, str],
    *,
    role: str = "all",
    port: int | None = None,
) -> tuple[asyncio.subprocess.Process, str]:
    """`newsbot run` in webhook mode, once it has set its webhook and listens: the process and
    the local URL of its webhook server (on `port`, else a free one)."""
    port = port or free_port()
    bot = await start_newsbot_run(
        telegram,
        tmp_path,
        role=role,
        extra_env={
            "NEWSBOT_WEBHOOK_URL": WEBHOOK_URL,
            "NEWSBOT_WEBHOOK_LISTEN": "127.0.0.1",
            "NEWSBOT_WEBHOOK_PORT": str(port),
            **env,
        },
    )
    await telegram.wait_for_call(lambda call: call.method == "setWebhook", timeout=60)
    local_url = f"http://127.0.0.1:{port}/telegram"
    async with asyncio.timeout(30):
        await wait_until_listening(local_url)
    return bot, local_url


async def stop(bot: asyncio.subprocess.Process) -> str:
    """Stop `newsbot run` as Docker does (SIGTERM); its log."""
    if bot.returncode is None:
        bot.terminate()
    assert bot.stderr is not None
    log = (await bot.stderr.read()).decode()
    assert await asyncio.wait_for(bot.wait(), timeout=30) == 0, log
    return log


@dataclass
class WebhookRun:
    process: asyncio.subprocess.Process
    url: str  # the local URL of its webhook server
    log: str = ""  # its log, once stopped


@contextlib.asynccontextmanager
async def webhook_run(
    telegram: FakeBotApi, tmp_path: Path, env: dict[str, str], *, port: int | None = None
) -> AsyncIterator[WebhookRun]:
    """`newsbot run` in webhook mode (`run_until_webhook_set`) for the block: stopped at its
    end, however it ends, and its log kept in `log`."""
    process, url = await run_until_webhook_set(telegram, tmp_path, env, port=port)
    run = WebhookRun(process, url)
    try:
        yield run
    finally:
        run.log = await stop(process)


async def test_updates_with_the_secret_are_answered_and_others_refused(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    async with webhook_run(telegram, tmp_path, WITH_SECRET) as run:
        (set_webhook,) = telegram.calls_to("setWebhook")
        assert set_webhook.params["url"] == WEBHOOK_URL
        assert set_webhook.params["secret_token"] == SECRET
        assert set_webhook.params["allowed_updates"] == [
            "message",
            "channel_post",
            "callback_query",
            "inline_query",
        ]

        without = await deliver(
            telegram, telegram.inject_message(BOB, "/start"), run.url, secret=None
        )
        wrong = await deliver(
            telegram, telegram.inject_message(CAROL, "/start"), run.url, secret=SECRET + "x"
        )
        assert (without, wrong) == (403, 403)
        assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), run.url) == 200
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
    log = run.log
    # A refused update is never read: only Alice, whose update carried the secret, got a reply.
    assert telegram.delivered(BOB) == telegram.delivered(CAROL) == []
    assert telegram.calls_to("getUpdates", include_failed=True) == []
    assert "Webhook mode" in log
    for secret in (SECRET, telegram.token):
        assert secret not in log
    assert "Traceback" not in log, log


async def test_without_a_configured_secret_a_random_one_is_made_and_kept_out_of_the_log(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    async with webhook_run(telegram, tmp_path, {}) as run:
        secret = telegram.webhook_secret
        assert secret is not None and re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret)
        assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), run.url) == 200
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
    assert secret not in run.log
    assert telegram.calls_to("getUpdates", include_failed=True) == []


async def test_back_to_long_polling_the_webhook_is_deleted_and_updates_answered(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    """An operator who unsets NEWSBOT_WEBHOOK_URL: the webhook an earlier start set would
    make getUpdates fail (409); the bot deletes it first."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{telegram.base_url}{telegram.token}/setWebhook",
            json={"url": WEBHOOK_URL, "secret_token": SECRET},
        )
    assert response.json()["ok"]
    bot = await start_newsbot_run(telegram, tmp_path)
    try:
        telegram.inject_message(ALICE, "/start")
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
    finally:
        log = await stop(bot)
    assert telegram.calls_to("deleteWebhook")
    assert telegram.webhook_secret is None
    assert "Webhook mode" not in log


@pytest.mark.postgres
async def test_split_roles_only_the_bot_sets_the_webhook_and_no_role_polls_telegram(
    postgres_url: str, telegram: FakeBotApi, tmp_path: Path
) -> None:
    health_port = free_port()
    shared = {"DATABASE_URL": postgres_url, "NEWSBOT_WEBHOOK_URL": WEBHOOK_URL}
    (tmp_path / "bot").mkdir()
    (tmp_path / "send").mkdir()
    bot, local_url = await run_until_webhook_set(telegram, tmp_path / "bot", shared, role="bot")
    sender = await start_newsbot_run(
        telegram,
        tmp_path / "send",
        role="send",
        extra_env={**shared, "NEWSBOT_HTTP_PORT": str(health_port)},
    )
    try:
        await wait_for_healthz(health_port)
        assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), local_url) == 200
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
    finally:
        logs = [await stop(sender), await stop(bot)]
    assert len(telegram.calls_to("setWebhook")) == 1, "the bot's, never the sender's"
    assert telegram.calls_to("deleteWebhook") == []
    assert telegram.calls_to("getUpdates", include_failed=True) == []
    assert all("Traceback" not in log for log in logs), logs


MB = 1024 * 1024


def memory_kb(pid: int) -> dict[str, int]:
    """The process's resident set now (VmRSS) and at its peak (VmHWM), in kB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        key: int(value.split()[0])
        for key, value in (line.split(":", 1) for line in status.splitlines())
        if key in ("VmRSS", "VmHWM")
    }


def reset_peak(pid: int) -> None:
    """Start VmHWM afresh from VmRSS (Linux: `5` in clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _post_streamed(
    url: str, size: int, headers: dict[str, str], chunked: bool
) -> tuple[int, float, int]:
    parts = urlsplit(url)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    piece = b"x" * (64 * 1024)
    frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n{head}\r\n".encode()
        )
        sock.setblocking(False)
        started = time.monotonic()
        answer, sent, pending = b"", 0, memoryview(frame)
        writing = True
        while b"\r\n" not in answer and time.monotonic() - started < 60:
            readable, writable, _ = select.select([sock], [sock] if writing else [], [], 1)
            if readable:  # the answer first: it may come before the body is sent
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
            elif writable:
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    writing = False  # closed by the server: read what it answered
                    continue
                pending = pending[count:]
                if not pending:
                    sent += len(piece)
                    pending = memoryview(frame)
                    if sent >= size:
                        writing = False
                        if chunked:
                            sock.sendall(b"0\r\n\r\n")
        seconds = time.monotonic() - started
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, seconds, sent


async def post_streamed(
    url: str, size: int, *, headers: dict[str, str], chunked: bool
) -> tuple[int, float, int]:
    """POST a body of `size` bytes made as it is sent (64 KB held at a time), with its length
    or chunked, reading the answer while sending, as a proxy streaming a body does: the status
    (0: none), the seconds until it came, and the body bytes handed to the socket by then.

    A plain socket in a thread: a server that answers before reading the body and then closes
    resets the connection, and asyncio's transports (and so aiohttp's and httpx's clients)
    report the failed write and drop the answer that had already arrived."""
    return await asyncio.to_thread(_post_streamed, url, size, headers, chunked)


async def test_four_95_mb_posts_without_the_secret_are_refused_at_once_and_never_read(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    async with webhook_run(telegram, tmp_path, WITH_SECRET) as run:
        assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), run.url) == 200
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
        before = memory_kb(run.process.pid)
        reset_peak(run.process.pid)
        refused = await asyncio.gather(
            *(
                post_streamed(run.url, 95 * MB, headers={}, chunked=bool(index % 2))
                for index in range(4)
            )
        )
        after = memory_kb(run.process.pid)
        # The bot still answers its users.
        assert await deliver(telegram, telegram.inject_message(BOB, "/start"), run.url) == 200
        await telegram.wait_for_message(BOB, contains="news bot", timeout=60)
    log = run.log

    growth_mb = (after["VmHWM"] - before["VmRSS"]) / 1024
    print(
        f"\nbefore: {before['VmRSS'] / 1024:.0f} MB; peak during the 4 POSTs: "
        f"{after['VmHWM'] / 1024:.0f} MB (+{growth_mb:.1f} MB)"
    )
    for _, seconds, sent in refused:
        print(f"403 after {seconds:.3f} s, {sent / MB:.1f} MB of 95 handed to the socket")
    assert [status for status, _, _ in refused] == [403] * 4
    assert all(seconds < 2 for _, seconds, _ in refused), refused
    assert growth_mb <= 50
    assert "Traceback" not in log, log


async def test_bodies_over_1_mb_get_413_and_bad_json_400_while_updates_are_answered(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    same_length = SECRET[:-1] + ("x" if SECRET[-1] != "x" else "y")
    async with webhook_run(telegram, tmp_path, WITH_SECRET) as run:
        with_secret = {SECRET_HEADER: SECRET}
        by_length, _, _ = await post_streamed(run.url, 2 * MB, headers=with_secret, chunked=False)
        chunked, _, _ = await post_streamed(run.url, 2 * MB, headers=with_secret, chunked=True)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                run.url, data=io.BytesIO(b'{"update_id": 1, "mess'), headers=with_secret
            ) as answer,
        ):
            bad_json = answer.status
        wrong = await deliver(
            telegram, telegram.inject_message(CAROL, "/start"), run.url, secret=same_length
        )
        assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), run.url) == 200
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
    log = run.log
    assert (by_length, chunked, bad_json, wrong) == (413, 413, 400, 403)
    assert telegram.delivered(CAROL) == []
    (bad,) = [line for line in log.splitlines() if "not an update" in line]
    assert "400" in bad
    assert "Traceback" not in log, log
    assert SECRET not in log


async def slowloris(port: int, request: bytes) -> float:
    """Send `request` a byte a second until the server closes the connection; the seconds it
    stayed open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                async with asyncio.timeout(1.0):
                    if not await reader.read(1024):
                        break
            except TimeoutError:
                continue
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - started


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server has closed this connection (it sends nothing on an idle one)."""
    try:
        return await asyncio.wait_for(reader.read(1), 0.05) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def test_the_webhook_beside_healthz_on_one_port_against_idlers_and_a_slowloris(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    """NEWSBOT_HTTP_PORT = NEWSBOT_WEBHOOK_PORT: one server answers /healthz (which sees the
    webhook taking updates) and the webhook, with the default limits: 50 idle connections over
    the cap of 256 do not keep /healthz or Telegram out, and a slowloris is cut at 10 s."""
    port = free_port()
    idlers = []
    async with webhook_run(telegram, tmp_path, {"NEWSBOT_HTTP_PORT": str(port)}, port=port) as run:
        try:
            for _ in range(MAX_CONNECTIONS + 50):
                idlers.append(await asyncio.open_connection("127.0.0.1", port))
            loris = asyncio.ensure_future(
                slowloris(port, b"POST /telegram HTTP/1.1\r\nHost: bot\r\n" + b"X: " * 100)
            )
            health = await wait_for_healthz(port)
            started = time.monotonic()
            status, _ = await http_get(port, "/metrics")
            metrics_seconds = time.monotonic() - started
            assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), run.url) == 200
            await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
            evicted = sum([await closed(reader) for reader, _ in idlers])
            open_for = await asyncio.wait_for(loris, timeout=30)
        finally:
            for _, writer in idlers:
                writer.close()
    log = run.log
    print(
        f"\n{len(idlers)} idle connections, {evicted} of them closed (to make room, or at the "
        f"header timeout); /metrics answered in {metrics_seconds:.3f} s; a slowloris sending "
        f"a byte a second was cut off after {open_for:.1f} s"
    )
    assert health["checks"]["updates"] == "ok"
    assert status == 200 and metrics_seconds < 1
    assert evicted >= 50
    assert HEADER_TIMEOUT - 1 <= open_for <= HEADER_TIMEOUT + 2
    assert "beside /healthz" in log
    assert "Traceback" not in log, log
