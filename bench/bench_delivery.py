"""Benchmark: one story to 10,000 subscribers of one topic, through the real sender (issue 5).

The real python-telegram-bot client sends to the fake Bot API server (tests/fakes) on loopback;
the outbox lives in SQLite. Two runs:
  1. NEWSBOT_SEND_RATE at its default (25/s) with the server enforcing Telegram's limits
     (30/s overall, 1/s per private chat): delivered messages/s, 429s, duplicates, losses;
     targets ≥ 95 % of the rate, zero 429s, zero duplicates, zero losses.
  2. NEWSBOT_SEND_RATE=1000 (paid broadcasts or a local Bot API server), no server limits:
     delivered messages/s; target ≥ 800/s.

    python bench/bench_delivery.py [--subscribers 10000] [--limited-subscribers 10000]

The limited run takes subscribers / 25 seconds by design (400 s for 10,000). The fake server
runs in a process of its own, as a real (or local) Bot API server would, so the bot's process has
its own core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram.ext import ExtBot

from bench.fake_process import announce, figure, parser_for, start_server
from handlers.gateway import Gateway
from handlers.pacing import Limits
from handlers.sender import Sender
from handlers.telegram_http import AiohttpRequest
from news.polling.pipeline import match_subscriptions
from storage import SqlStorage, open_storage
from tests.fakes.telegram import FakeBotApi
from tests.storage_helpers import delivery_states
from tests.stories import english_story

FIRST_CHAT = 1_000_000


async def prepare(storage: SqlStorage, subscribers: int) -> None:
    now = datetime.now(UTC)
    for chat_id in range(FIRST_CHAT, FIRST_CHAT + subscribers):
        await storage.upsert_chat(chat_id, kind="private", title=None, now=now)
        await storage.subscribe(chat_id, "ukraine", now=now)
    source = await storage.add_source("https://news.example.org/feed", now=now)
    title = "Ukraine and Russia agree on a prisoner exchange"
    draft = english_story(
        source.id,
        title,
        entry_id="exchange",
        summary="The exchange is the largest since the war began.",
        link="https://news.example.org/exchange",
        published_at=now - timedelta(minutes=3),
    )
    stories = await storage.store_stories([draft], now=now)
    owed = match_subscriptions(stories, await storage.active_subscriptions(), now)
    assert len(owed) == subscribers
    await storage.enqueue_deliveries(owed, now=now)


async def serve(limited: bool) -> None:
    """Child process: run the fake Bot API until stdin closes, then print its accounting."""
    async with FakeBotApi(validate_html=False) as telegram:
        if limited:
            telegram.enforce_limits()
        announce(telegram)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        delivered = telegram.delivered()
        chats = [int(m["chat_id"]) for m in delivered]
        print(json.dumps({"chats": chats, "too_many": telegram.too_many_requests}), flush=True)


async def run(subscribers: int, rate: float, *, limited: bool) -> None:
    server, hello = await start_server(__file__, *(["--limited"] if limited else []))
    assert server.stdin is not None and server.stdout is not None
    with tempfile.TemporaryDirectory() as folder:
        storage = await open_storage(f"sqlite:///{Path(folder) / 'bench.db'}")
        await prepare(storage, subscribers)
        request = AiohttpRequest(connection_pool_size=16)
        gateway = Gateway(Limits(global_per_second=rate))
        async with ExtBot(
            hello["token"], base_url=hello["base_url"], request=request, rate_limiter=gateway
        ) as bot:
            sender = Sender(bot, storage, lambda: datetime.now(UTC), batch=1000)
            started = time.perf_counter()
            while (await delivery_states(storage)).get("sent", 0) < subscribers:
                report = await sender.send_pending()
                if not report.sent and not report.retried:
                    break
            elapsed = time.perf_counter() - started
        await storage.close()
    server.stdin.close()
    stats = json.loads(await server.stdout.readline())
    await server.wait()
    sent = stats["chats"]
    duplicates = len(sent) - len(set(sent))
    losses = subscribers - len(set(sent))
    too_many = stats["too_many"]
    achieved = len(sent) / elapsed
    label = f"rate {rate:g}/s, {'Telegram limits enforced' if limited else 'no server limits'}"
    print(f"{label}: {subscribers:,} subscribers in {elapsed:.1f} s")
    if limited:
        share = achieved / rate
        figure(
            f"delivered {achieved:.1f} msg/s = {share:.1%} of NEWSBOT_SEND_RATE",
            "target ≥ 95%",
            share >= 0.95,
        )
    else:
        figure(f"delivered {achieved:,.0f} msg/s", "target ≥ 800", achieved >= 800)
    figure(
        f"429s: {too_many} (target 0), duplicates: {duplicates} (target 0), losses: {losses}",
        "target 0",
        too_many == duplicates == losses == 0,
    )


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--limited-subscribers", type=int, default=10_000)
    parser.add_argument("--limited", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.limited))
        return
    asyncio.run(run(args.subscribers, 1000, limited=False))
    asyncio.run(run(args.limited_subscribers, 25, limited=True))


if __name__ == "__main__":
    main()
