"""Benchmark: one story to 10,000 subscribers of one topic, through the real sender (issue 5).

The real python-telegram-bot client sends to the fake Bot API server (tests/fakes) on loopback;
the outbox lives in SQLite. Two runs:
  1. NEWSBOT_SEND_RATE at its default (25/s) with the server enforcing Telegram's limits
     (30/s overall, 1/s per private chat): delivered messages/s, 429s, duplicates, losses;
     targets ≥ 95 % of the rate, zero 429s, zero duplicates, zero losses.
  2. NEWSBOT_SEND_RATE=1000 (paid broadcasts or a local Bot API server), no server limits:
     delivered messages/s; target ≥ 800/s.

    python bench/bench_delivery.py [--subscribers 10000] [--limited-subscribers 10000]

The limited run takes subscribers / 25 seconds by design (400 s for 10,000).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Bot
from telegram.request import HTTPXRequest

from handlers.sender import Sender
from news.analysis import document_terms
from news.ingest import match_subscriptions
from news.model import StoryDraft
from news.pacing import Limits
from storage import SqlStorage, open_storage
from tests.fakes.telegram_api import FakeBotApi

FIRST_CHAT = 1_000_000


async def prepare(storage: SqlStorage, subscribers: int) -> None:
    now = datetime.now(UTC)
    for chat_id in range(FIRST_CHAT, FIRST_CHAT + subscribers):
        await storage.upsert_chat(chat_id, kind="private", title=None, now=now)
        await storage.subscribe(chat_id, "ukraine", now=now)
    source = await storage.add_source("https://news.example.org/feed", now=now)
    title = "Ukraine and Russia agree on a prisoner exchange"
    stories = await storage.store_stories(
        [
            StoryDraft(
                source_id=source.id,
                entry_id="exchange",
                title=title,
                summary="The exchange is the largest since the war began.",
                link="https://news.example.org/exchange",
                published_at=now - timedelta(minutes=3),
                language="en",
                terms=tuple(document_terms(title, "en")),
            )
        ],
        now=now,
    )
    owed = match_subscriptions(stories, await storage.active_subscriptions(), now)
    assert len(owed) == subscribers
    await storage.enqueue_deliveries(owed, now=now)


async def run(subscribers: int, rate: float, *, limited: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        storage = await open_storage(f"sqlite:///{Path(folder) / 'bench.db'}")
        await prepare(storage, subscribers)
        async with FakeBotApi(validate_html=False) as telegram:
            if limited:
                telegram.enforce_limits()
            request = HTTPXRequest(connection_pool_size=16)
            async with Bot(telegram.token, base_url=telegram.base_url, request=request) as bot:
                sender = Sender(
                    bot,
                    storage,
                    lambda: datetime.now(UTC),
                    limits=Limits(global_per_second=rate),
                    concurrency=16,
                    batch=1000,
                )
                started = time.perf_counter()
                while (await storage.delivery_states()).get("sent", 0) < subscribers:
                    report = await sender.send_pending()
                    if not report.sent and not report.retried:
                        break
                elapsed = time.perf_counter() - started
            delivered = telegram.delivered()
            chats = {int(m["chat_id"]) for m in delivered}
            duplicates = len(delivered) - len(chats)
            losses = subscribers - len(chats)
            too_many = telegram.too_many_requests
        await storage.close()
    achieved = len(delivered) / elapsed
    label = f"rate {rate:g}/s, {'Telegram limits enforced' if limited else 'no server limits'}"
    print(f"{label}: {subscribers:,} subscribers in {elapsed:.1f} s")
    if limited:
        share = achieved / rate
        print(
            f"  delivered {achieved:.1f} msg/s = {share:.1%} of NEWSBOT_SEND_RATE "
            f"(target ≥ 95%) {'OK' if share >= 0.95 else 'MISSED'}"
        )
    else:
        print(
            f"  delivered {achieved:,.0f} msg/s (target ≥ 800) "
            f"{'OK' if achieved >= 800 else 'MISSED'}"
        )
    print(
        f"  429s: {too_many} (target 0), duplicates: {duplicates} (target 0), "
        f"losses: {losses} (target 0) "
        f"{'OK' if too_many == duplicates == losses == 0 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--limited-subscribers", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run(args.subscribers, 1000, limited=False))
    asyncio.run(run(args.limited_subscribers, 25, limited=True))


if __name__ == "__main__":
    main()
