"""Retention: pruning a large archive in batches, and how long a writer waits meanwhile.

An archive of STORIES stories (half older than the 90-day window), as many sent deliveries
(half finished before the window) and CHATS chats (half inactive since before the window, with
3 topics each) is pruned with `SqlStorage.prune` in its default batches, while another task
writes one row every 5 ms on its own connection, as the poller and the senders do. Printed:
rows deleted, batches, the mean and the longest batch, and the writer's longest wait.
Targets: every batch ≤ 250 ms; the writer waits ≤ 500 ms at worst.
Runs on SQLite, and on PostgreSQL where NEWSBOT_TEST_POSTGRES_URL (or the default local server)
answers. Run with --quick for a tenth of the rows.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text, update

from storage import SqlStorage, create_engine
from storage.database import migrate
from storage.tables import chats, deliveries, stories, subscriptions

SCALE = 10 if "--quick" in sys.argv else 1
STORIES = 100_000 // SCALE
CHATS = 2_000 // SCALE
NOW = datetime(2025, 6, 1, tzinfo=UTC)
WINDOW = timedelta(days=90)
POSTGRES_URL = os.environ.get(
    "NEWSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def fill(storage: SqlStorage) -> None:
    source = await storage.add_source("https://bench.example/feed", now=NOW)
    # Straight inserts (the triggers keep the full-text index and the counters as for any
    # insert): storing through the poller's path is what bench_ingest measures.
    async with storage.engine.begin() as conn:
        for start in range(0, STORIES, 5_000):
            rows = []
            for n in range(start, min(start + 5_000, STORIES)):
                # Story n is n × (180 days / STORIES) old: the older half is outside the window.
                published = NOW - timedelta(days=180) * (n / STORIES)
                rows.append(
                    {
                        "source_id": source.id,
                        "entry_id": f"e{n}",
                        "title": f"Story {n}",
                        "summary": "",
                        "link": f"https://bench.example/{n}",
                        "published_at": published,
                        "first_seen_at": published,
                        "language": "en",
                        "terms": ("parliament", "budget", f"n{n}"),
                    }
                )
            await conn.execute(insert(stories), rows)
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(chats),
            [
                {
                    "id": chat,
                    "kind": "private",
                    "active": chat % 2 == 0,
                    "paused": False,
                    "created_at": NOW - timedelta(days=200),
                    "inactive_since": None if chat % 2 == 0 else NOW - timedelta(days=120),
                }
                for chat in range(1, CHATS + 1)
            ],
        )
        await conn.execute(
            insert(subscriptions),
            [
                {"chat_id": chat, "topic": f"topic {k}", "created_at": NOW}
                for chat in range(1, CHATS + 1)
                for k in range(3)
            ],
        )
        # Deliveries are queued in time order, as the bot queues them.
        ids = list(
            (
                await conn.execute(
                    select(stories.c.id, stories.c.published_at).order_by(stories.c.published_at)
                )
            ).all()
        )
        rows = [
            {
                "chat_id": 2 * (number % (CHATS // 2)) + 2,
                "story_id": row.id,
                "topics": ("topic 0",),
                "state": "sent",
                "attempts": 1,
                "created_at": row.published_at,
                "updated_at": row.published_at,
            }
            for number, row in enumerate(ids)
        ]
        for start in range(0, len(rows), 10_000):
            await conn.execute(insert(deliveries), rows[start : start + 10_000])


async def writer(storage: SqlStorage, stop: asyncio.Event, waits: list[float]) -> None:
    """One small write every 5 ms, as a poller or a sender makes them; each one timed."""
    while not stop.is_set():
        started = time.perf_counter()
        async with storage.engine.begin() as conn:
            await conn.execute(update(chats).where(chats.c.id == 2).values(title=f"{started:.6f}"))
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)


async def run(url: str, name: str) -> None:
    engine = create_engine(url)
    await migrate(engine)
    storage = SqlStorage(engine)
    try:
        started = time.perf_counter()
        await fill(storage)
        print(f"{name}: filled {STORIES:,} stories in {time.perf_counter() - started:.1f} s")
        stop, waits = asyncio.Event(), []
        task = asyncio.create_task(writer(storage, stop, waits))
        batch_times: list[float] = []
        before = NOW - WINDOW
        started = time.perf_counter()
        report = await storage.prune(before, pause=0.01, on_batch=batch_times.append)
        total = time.perf_counter() - started
        stop.set()
        await task
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT count(*) FROM stories"))).scalar_one()
        print(
            f"{name}: deleted {report.stories:,} stories, {report.deliveries:,} deliveries, "
            f"{report.chats:,} chats in {report.batches} batches, {total:.1f} s "
            f"({left:,} stories left)"
        )
        print(
            f"{name}: batch mean {1000 * sum(batch_times) / len(batch_times):.1f} ms, longest "
            f"{1000 * max(batch_times):.1f} ms (target ≤ 250 ms); writer's longest wait "
            f"{1000 * max(waits):.1f} ms over {len(waits)} writes (target ≤ 500 ms)"
        )
    finally:
        await storage.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        await run(f"sqlite:///{folder}/retention.db", "SQLite")
    try:
        import asyncpg

        admin = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        print(f"PostgreSQL: skipped, no server at {POSTGRES_URL}: {error}")
        return
    database = f"newsbot_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        await run(POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}", "PostgreSQL")
    finally:
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
