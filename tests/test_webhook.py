"""Webhook mode as an operator runs it: the real `newsbot run` with NEWSBOT_WEBHOOK_URL set.

The fake Bot API records setWebhook; the test then plays Telegram (and the reverse proxy in
front of the bot) and posts updates to the bot's webhook server on loopback, with the secret,
without it and with a wrong one.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.fakes.telegram import FakeBotApi
from tests.fakes.webhook import deliver, free_port, wait_until_listening
from tests.harness import start_newsbot_run, wait_for_healthz

WEBHOOK_URL = "https://newsbot.example.org/telegram"
SECRET = "operator-set_Secret-42"
ALICE, BOB, CAROL = 1001, 1002, 1003


async def run_until_webhook_set(
    telegram: FakeBotApi, tmp_path: Path, env: dict[str, str], *, role: str = "all"
) -> tuple[asyncio.subprocess.Process, str]:
    """`newsbot run` in webhook mode, once it has set its webhook and listens: the process and
    the local URL of its webhook server."""
    port = free_port()
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


async def test_updates_with_the_secret_are_answered_and_others_refused(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    bot, local_url = await run_until_webhook_set(
        telegram, tmp_path, {"NEWSBOT_WEBHOOK_SECRET": SECRET}
    )
    try:
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
            telegram, telegram.inject_message(BOB, "/start"), local_url, secret=None
        )
        wrong = await deliver(
            telegram, telegram.inject_message(CAROL, "/start"), local_url, secret=SECRET + "x"
        )
        assert (without, wrong) == (403, 403)
        assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), local_url) == 200
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
    finally:
        log = await stop(bot)
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
    bot, local_url = await run_until_webhook_set(telegram, tmp_path, {})
    try:
        secret = telegram.webhook_secret
        assert secret is not None and re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret)
        assert await deliver(telegram, telegram.inject_message(ALICE, "/start"), local_url) == 200
        await telegram.wait_for_message(ALICE, contains="news bot", timeout=60)
    finally:
        log = await stop(bot)
    assert secret not in log
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
