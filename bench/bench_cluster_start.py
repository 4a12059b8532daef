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

The build takes about 2 minutes on a 2-core machine (the archive goes in through the driver's
executemany; the window's stories are clustered by a real `Clusterer`, and its changes are
written by the code the cluster keeper writes them with). Every story's outlet is the feed
server's host, so an event's reports stay apart unless their headlines nearly match (the
same-outlet rule): the window holds almost one open cluster a story, the most a window of
100,000 stories can cost.

With `--keep DIR` the database is built in DIR once and reused by later runs: each run starts
`newsbot run` on a copy of it (a run stores and clusters its fresh stories). The window is
48 hours back from the build, so a database kept more than an hour loses its oldest stories
from the window: the bench prints how many the start loads.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.dialects import sqlite

from bench.whole_process import newsbot_environment, precompile
from news.analysis import document_terms
from news.clustering import Clusterer
from news.policy import CLUSTER_WINDOW
from storage import open_storage
from storage.clusters import _write_state as write_cluster_state
from storage.tables import cluster_stories, stories
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi

SOURCES = 200
READY_TARGET = 2.0  # seconds
RSS_TARGET = 250.0  # MB
BATCH = 5_000
ARCHIVE_BATCH = 50_000
WORDS = [
    *("ukraine", "parliament", "bank", "storm", "league", "election", "strike", "flood"),
    *("summit", "budget", "court", "police", "river", "school", "hospital", "airport"),
    *("festival", "market", "energy", "border", "talks", "ceasefire", "vote", "port"),
    *("factory", "harvest", "museum", "bridge", "railway", "tariff"),
]
# Names, places and things beside the common words: a window of news has a vocabulary of
# thousands of words, so that each word leads few clusters. (With the 30 words alone every
# cluster is posted under the same few terms and each story is compared with all of them:
# quadratic, and no real window looks like that.)
VOCABULARY = 4_000
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _vocabulary() -> list[str]:
    rng = random.Random(7)
    words = dict.fromkeys(WORDS)
    while len(words) < VOCABULARY:
        words["".join(rng.choice(_SYLLABLES) for _ in range(3))] = None
    return list(words)


VOCABULARY_WORDS = _vocabulary()


def event_words(event: int) -> list[str]:
    """The three words every report of an event has (a cheap deterministic hash of it)."""
    mixed = (event * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    count = len(VOCABULARY_WORDS)
    return [VOCABULARY_WORDS[(mixed >> shift) % count] for shift in (0, 21, 42)]


def headline_words(rng: random.Random, event: int) -> list[str]:
    """A headline's words: three of its event's, two of any, and the event's own tag (a name
    no other event has)."""
    anyone = rng.choice(VOCABULARY_WORDS), rng.choice(VOCABULARY_WORDS)
    return [*event_words(event), *anyone, f"e{event}x"]


def headline(rng: random.Random, event: int) -> str:
    """A headline of an event."""
    return " ".join(headline_words(rng, event)).capitalize()


@cache
def _word_terms(word: str) -> tuple[str, ...]:
    return document_terms(word, "en")


def headline_terms(words: list[str]) -> tuple[str, ...]:
    """`document_terms` of the headline of `words`: the analyser reads word by word, so the
    terms of each distinct word are computed once (checked against the analyser in `build`)."""
    return tuple(itertools.chain.from_iterable(map(_word_terms, words)))


_STORY_INSERT = (
    "INSERT INTO stories (id, source_id, entry_id, title, summary, link, published_at, "
    "first_seen_at, language, terms, cluster_id) VALUES (?, ?, ?, ?, '', ?, ?, ?, 'en', ?, ?)"
)


async def build(url: str, window: int, archive: int, now: datetime) -> None:
    """Archive stories (each its own cluster), then the window's, clustered by a real
    clusterer whose state is stored by the code the cluster keeper stores it with.

    Stories go in as plain tuples through the driver's executemany (a million SQLAlchemy
    parameter dicts cost minutes), encoded by the columns' own types."""
    storage = await open_storage(url)
    dialect = storage.engine.dialect
    encode_time = cast(
        Callable[[datetime], str], stories.c.published_at.type.bind_processor(dialect)
    )
    encode_terms = cast(
        Callable[[Sequence[str]], str], stories.c.terms.type.bind_processor(dialect)
    )
    rng = random.Random(12)
    for event in (1, 12_345, 10**9):  # the shortcut analyses as the analyser does
        words = headline_words(rng, event)
        title = " ".join(words).capitalize()
        assert headline_terms(words) == document_terms(title, "en"), title
    try:
        names = {source.id: source.name for source in await storage.list_sources()}
        span = timedelta(days=360)
        for start in range(1, archive + 1, ARCHIVE_BATCH):
            rows: list[tuple[object, ...]] = []
            for n in range(start, min(archive + 1, start + ARCHIVE_BATCH)):
                words = headline_words(rng, n // 3)
                published = encode_time(now - timedelta(days=3) - span * (n / archive))
                rows.append(
                    (
                        n,
                        1 + n % SOURCES,
                        f"e{n}",
                        " ".join(words).capitalize(),
                        f"https://bench.example/{n}",
                        published,
                        published,
                        encode_terms(headline_terms(words)),
                        n,
                    )
                )
            async with storage.engine.begin() as conn:
                # The unique index on (source, entry id) is filled out of order: a bigger page
                # cache than SQLite's 2 MB saves most of the page reads and writes.
                await conn.exec_driver_sql("PRAGMA cache_size = -262144")
                await conn.exec_driver_sql(_STORY_INSERT, rows)
        clusterer = Clusterer()
        for start in range(0, window, BATCH):
            rows = []
            for n in range(archive + 1 + start, archive + 1 + min(window, start + BATCH)):
                offset = window - (n - archive)
                published_at = now - timedelta(hours=47) * (offset / window)
                words = headline_words(rng, n // 4)
                title = " ".join(words).capitalize()
                terms = headline_terms(words)
                source_id = 1 + n % SOURCES
                assigned = clusterer.add(
                    n,
                    title,
                    "",
                    "en",
                    published_at,
                    names.get(source_id, "bench.example"),
                    terms=terms,
                )
                published = encode_time(published_at)
                rows.append(
                    (
                        n,
                        source_id,
                        f"e{n}",
                        title,
                        f"https://bench.example/{n}",
                        published,
                        published,
                        encode_terms(terms),
                        assigned.cluster_id,
                    )
                )
            # As a turn of the keeper leaves them: the stories with their clusters, and the
            # clusterer's changes written by storage's own code, at the next version.
            async with storage.engine.begin() as conn:
                await conn.exec_driver_sql(_STORY_INSERT, rows)
                await write_cluster_state(conn, clusterer.changes())
        print(f"  {len(clusterer.clusters()):,} open clusters in the window")
    finally:
        await storage.close()


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


def bind_time(at: datetime) -> str:
    """`at` as a time column stores it on SQLite."""
    process = cluster_stories.c.published_at.type.bind_processor(sqlite.dialect())
    return cast(Callable[[datetime], str], process)(at)


def window_stories(path: Path) -> int:
    """Clustered stories a start loads now (the window's), as storage selects them."""
    horizon = bind_time(datetime.now(UTC) - CLUSTER_WINDOW)
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute(
            "SELECT count(*) FROM cluster_stories WHERE published_at >= ?", (horizon,)
        ).fetchone()
    return int(row[0])


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
        built, database = work / "cluster_start.db", work / "run.db"

        def environment(path: Path) -> dict[str, str]:
            return newsbot_environment(
                path,
                sources_file,
                NEWSBOT_ALLOW_PRIVATE_SOURCES="1",
                XDG_CACHE_HOME=str(work / "cache"),
                TELEGRAM_BOT_TOKEN=telegram.token,
                TELEGRAM_API_URL=telegram.base_url,
            )

        newsbot = [sys.executable, "-m", "bot"]
        if not built.exists():
            started = time.perf_counter()
            # The first command creates the schema and syncs the sources, as a user's does.
            made = await asyncio.create_subprocess_exec(
                *newsbot,
                *("sources", "list"),
                env=environment(built),
                cwd=work,
                stdout=asyncio.subprocess.DEVNULL,
            )
            await made.wait()
            await build(f"sqlite:///{built}", args.stories, args.archive, datetime.now(UTC))
            print(
                f"built {args.stories:,} window and {args.archive:,} archive stories in "
                f"{time.perf_counter() - started:.0f} s"
            )
        # Each run starts from the database as built: a run stores and clusters its fresh
        # stories, and the next run's would then be nothing new to cluster.
        shutil.copyfile(built, database)
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{database}"
        print(
            f"{window_stories(database):,} stories in the 48 h window to load (built "
            f"{(time.time() - built.stat().st_mtime) / 60:.0f} min ago: the window moves on)"
        )
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *newsbot,
            "run",
            env=environment(database),
            cwd=work,
            stderr=(work / "run.log").open("wb"),
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
    precompile()
    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, work))


if __name__ == "__main__":
    main()
