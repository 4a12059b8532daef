"""`kill -9` in the middle of a fan-out, then a restart: every chat gets its story.

The real `newsbot run` runs as a subprocess against the fake Bot API server on loopback. It is
killed with SIGKILL while pushing one story to 2,000 chats and started again. Rows it had claimed
are reclaimed when their lease (1 s here) runs out, so a chat can only get the story twice if its
message was in flight at the kill; the test counts those duplicates and bounds them by the
sender's concurrency, its in-flight window.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from news.model import TopicMatch
from storage import open_storage
from tests.fakes.telegram import FakeBotApi
from tests.harness import start_newsbot
from tests.stories import english_story

ROOT = Path(__file__).resolve().parent.parent
CHATS = 2000
IN_FLIGHT_WINDOW = 64  # handlers.sender.Sender's default unrecorded window


async def prepare_outbox(database_url: str) -> None:
    now = datetime.now(UTC)
    storage = await open_storage(database_url)
    try:
        source = await storage.add_source("https://news.example.org/feed", now=now)
        draft = english_story(
            source.id,
            "Ukraine: ceasefire agreed",
            entry_id="1",
            summary="Both sides signed.",
            link="https://news.example.org/ceasefire",
            published_at=now - timedelta(minutes=2),
        )
        [story] = await storage.store_stories([draft], now=now)
        for chat_id in range(10_000, 10_000 + CHATS):
            await storage.upsert_chat(chat_id, kind="private", title=None, now=now)
        await storage.enqueue_deliveries(
            [
                TopicMatch(chat_id, story.id, ("ukraine",))
                for chat_id in range(10_000, 10_000 + CHATS)
            ],
            now=now,
        )
    finally:
        await storage.close()


async def wait_for_messages(telegram: FakeBotApi, count: int, deadline: float) -> None:
    async with asyncio.timeout(deadline):
        while len(telegram.delivered()) < count:
            await telegram.wait_for_call(
                lambda call: call.method == "sendMessage", after=len(telegram.calls), timeout=30
            )


async def test_kill_9_mid_fan_out_then_restart_delivers_to_every_chat(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    await prepare_outbox(database_url)
    (tmp_path / "sources.txt").write_text("")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))},
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": database_url,
        "NEWSBOT_SOURCES": str(tmp_path / "sources.txt"),
        "NEWSBOT_SEND_RATE": "400",
        "NEWSBOT_SEND_LEASE": "1",
    }

    first = await start_newsbot(env, tmp_path)
    await wait_for_messages(telegram, CHATS // 4, deadline=60)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    delivered_before_restart = len({m["chat_id"] for m in telegram.delivered()})

    second = await start_newsbot(env, tmp_path)
    try:
        async with asyncio.timeout(90):
            while len({m["chat_id"] for m in telegram.delivered()}) < CHATS:
                await telegram.wait_for_call(
                    lambda call: call.method == "sendMessage",
                    after=len(telegram.calls),
                    timeout=30,
                )
    finally:
        second.terminate()
        await second.wait()

    sent = [m["chat_id"] for m in telegram.delivered()]
    duplicates = len(sent) - len(set(sent))
    print(
        f"\nkill -9 after {delivered_before_restart} of {CHATS} chats; after restart every chat "
        f"has the story; duplicates: {duplicates} (in-flight window {IN_FLIGHT_WINDOW})"
    )
    assert CHATS // 4 <= delivered_before_restart < CHATS
    assert set(sent) == set(range(10_000, 10_000 + CHATS))
    assert duplicates <= IN_FLIGHT_WINDOW
