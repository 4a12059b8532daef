"""Benchmark: `newsbot run` started over a large database, with its clusters loaded (issue 12).

Builds a SQLite database of `--stories` (100,000) stories in the 48 h cluster window, clustered
as a running bot left them (the clusterer's state stored beside them: centroids and story
signatures), and `--archive` (1,000,000) older stories, clustered long ago; 200 sources served
by a loopback feed server. Then starts the real `newsbot run` against the fake Bot API and
measures, from spawn:

- ready: the bot has answered /start and the scheduler has fetched a feed (target ≤ 2 s);
- RSS (VmRSS from /proc) once every source's first poll is done (target ≤ 250 MB), and the
  peak (VmHWM).

    python bench/bench_cluster_start.py [--stories 100000] [--archive 1000000] [--keep DIR]

With `--keep DIR` the database is built in DIR once and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
from array import array
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bench.whole_process import newsbot_environment
from news.analysis import document_terms
from news.clustering import Clusterer
from storage import open_storage
from storage.tables import bot_state, cluster_stories, clusters, stories
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi

SOURCES = 200
READY_TARGET = 2.0  # seconds
RSS_TARGET = 250.0  # MB
BATCH = 5_000
WORDS = [
    *("ukraine", "parliament", "bank", "storm", "league", "election", "strike", "flood"),
    *("summit", "budget", "court", "police", "river", "school", "hospital", "airport"),
    *("festival", "market", "energy", "border", "talks", "ceasefire", "vote", "port"),
    *("factory", "harvest", "museum", "bridge", "railway", "tariff"),
]


def headline(rng: random.Random, event: int) -> str:
    """A headline of an event: three of its words and two of any."""
    own = random.Random(event)
    words = [own.choice(WORDS) for _ in range(3)] + [rng.choice(WORDS) for _ in range(2)]
    return " ".join(words).capitalize() + f" e{event}x"


def story_row(n: int, title: str, published: datetime, language: str = "en") -> dict[str, object]:
    return {
        "id": n,
        "source_id": 1 + n % SOURCES,
        "entry_id": f"e{n}",
        "title": title,
        "summary": "",
        "link": f"https://bench.example/{n}",
        "published_at": published,
        "first_seen_at": published,
        "language": language,
        "terms": document_terms(title, language),
        "cluster_id": n,
    }


async def build(url: str, window: int, archive: int, now: datetime) -> None:
    """Archive stories (each its own cluster), then the window's, clustered by a real
    clusterer whose state is stored as the keeper stores it."""
    storage = await open_storage(url)
    rng = random.Random(12)
    try:
        names = {source.id: source.name for source in await storage.list_sources()}
        async with storage.engine.begin() as conn:
            rows: list[dict[str, object]] = []
            for n in range(1, archive + 1):
                published = now - timedelta(days=3) - timedelta(days=360) * (n / archive)
                rows.append(story_row(n, headline(rng, n // 3), published))
                if len(rows) == BATCH:
                    await conn.execute(insert(stories), rows)
                    rows = []
            if rows:
                await conn.execute(insert(stories), rows)
        clusterer = Clusterer()
        version = 0
        for start in range(0, window, BATCH):
            rows = []
            for n in range(archive + 1 + start, archive + 1 + min(window, start + BATCH)):
                offset = window - (n - archive)
                published = now - timedelta(hours=47) * (offset / window)
                row = story_row(n, headline(rng, n // 4), published)
                assigned = clusterer.add(
                    n,
                    str(row["title"]),
                    "",
                    "en",
                    published,
                    names.get(int(str(row["source_id"])), "bench.example"),
                    terms=row["terms"],  # type: ignore[arg-type]
                )
                row["cluster_id"] = assigned.cluster_id
                rows.append(row)
            changes = clusterer.changes()
            version += 1
            async with storage.engine.begin() as conn:
                await conn.execute(insert(stories), rows)
                await conn.execute(
                    insert(cluster_stories),
                    [
                        {
                            "story_id": s.story_id,
                            "cluster_id": s.cluster_id,
                            "language": s.language,
                            "source": s.source,
                            "published_at": s.published_at,
                            "terms": s.terms,
                            "headline": s.headline,
                            "signature": _ints(s.signature),
                            "version": version,
                            "seq": seq,
                        }
                        for seq, s in enumerate(changes.stories)
                    ],
                )
                ids = [row.id for row in changes.clusters]
                await conn.execute(clusters.delete().where(clusters.c.id.in_(ids)))
                await conn.execute(
                    insert(clusters),
                    [
                        {
                            "id": c.id,
                            "language": c.language,
                            "started_at": c.started_at,
                            "terms": c.terms,
                            "weights": _floats(c.weights),
                            "version": version,
                        }
                        for c in changes.clusters
                    ],
                )
        async with storage.engine.begin() as conn:
            await conn.execute(insert(bot_state).values(key="cluster_version", value=str(version)))
        print(f"  {len(clusterer.clusters()):,} open clusters in the window")
    finally:
        await storage.close()


def _ints(values: tuple[int, ...]) -> bytes:
    return array("I", values).tobytes()  # little-endian machines, as storage.clusters writes


def _floats(values: tuple[float, ...]) -> bytes:
    return array("d", values).tobytes()


async def wait_clustered(url: str, count: int) -> None:
    """Until `count` fresh stories have a cluster (read without disturbing the bot)."""
    path = url.removeprefix("sqlite:///")
    while True:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            row = db.execute(
                "SELECT count(*) FROM stories WHERE link LIKE 'https://fresh.%' "
                "AND cluster_id IS NOT NULL"
            ).fetchone()
        if row[0] >= count:
            return
        await asyncio.sleep(0.2)


def rss_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


async def run(args: argparse.Namespace, work: Path) -> None:
    async with FakeBotApi() as telegram, FeedServer() as feeds:
        paths = [f"/feed{n}.xml" for n in range(SOURCES)]
        # One new story a feed: the first tick clusters them, so it loads the open clusters.
        for n, path in enumerate(paths):
            item = FeedItem(
                title=headline(random.Random(n), 10**9 + n),
                link=f"https://fresh.bench.example/{n}",
                summary="A fresh report.",
                published=datetime.now(UTC),
            )
            feeds.set_feed(path, rss_feed([item], title=path))
        sources_file = work / "sources.txt"
        sources_file.write_text("".join(feeds.url(path) + "\n" for path in paths))
        url = f"sqlite:///{work / 'cluster_start.db'}"
        env = newsbot_environment(
            work / "cluster_start.db",
            sources_file,
            NEWSBOT_ALLOW_PRIVATE_SOURCES="1",
            XDG_CACHE_HOME=str(work / "cache"),
            TELEGRAM_BOT_TOKEN=telegram.token,
            TELEGRAM_API_URL=telegram.base_url,
        )
        newsbot = [sys.executable, "-m", "bot"]
        if not (work / "cluster_start.db").exists():
            started = time.perf_counter()
            # The first command creates the schema and syncs the sources, as a user's does.
            made = await asyncio.create_subprocess_exec(
                *newsbot, "sources", "list", env=env, cwd=work, stdout=asyncio.subprocess.DEVNULL
            )
            await made.wait()
            await build(url, args.stories, args.archive, datetime.now(UTC))
            print(
                f"built {args.stories:,} window and {args.archive:,} archive stories in "
                f"{time.perf_counter() - started:.0f} s"
            )
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *newsbot, "run", env=env, cwd=work, stderr=(work / "run.log").open("wb")
        )
        try:
            telegram.inject_message(42, "/start")
            await telegram.wait_for_message(42, timeout=120)
            answered = time.perf_counter() - started
            await feeds.wait_for_requests(timeout=120)
            polled = time.perf_counter() - started
            # Every source's first poll (one request each): the first tick has fetched them.
            await feeds.wait_for_requests(count=SOURCES, timeout=300)
            # The tick stores, records and clusters after fetching: wait for the clusters.
            await wait_clustered(url, SOURCES)
            clustered = time.perf_counter() - started
            rss, peak = rss_mb(process.pid)
        finally:
            process.terminate()
            await process.wait()
        ready = max(answered, polled)
        print(f"first tick's {SOURCES} new stories clustered {clustered:.2f} s after start")
        print(
            f"ready {ready:.2f} s (answered /start {answered:.2f} s, first feed fetched "
            f"{polled:.2f} s; target ≤ {READY_TARGET} s: "
            f"{'met' if ready <= READY_TARGET else 'NOT met'})"
        )
        print(
            f"RSS after the first tick {rss:.0f} MB (target ≤ {RSS_TARGET:.0f} MB: "
            f"{'met' if rss <= RSS_TARGET else 'NOT met'}), peak {peak:.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stories", type=int, default=100_000, help="stories in the window")
    parser.add_argument("--archive", type=int, default=1_000_000, help="older stories")
    parser.add_argument("--keep", type=Path, help="build the database here once and reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, work))


if __name__ == "__main__":
    main()
