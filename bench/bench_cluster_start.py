"""Benchmark: `newsbot run` started over a large database, with its clusters loaded (issue 12).

Builds a SQLite database of `--stories` (100,000) stories in the 48 h cluster window, clustered
as a running bot left them (the clusterer's state stored beside them: centroids, story
signatures and, since issue 23, events' meanings), and `--archive` (1,000,000) older stories,
clustered long ago; 200 sources served by a loopback feed server. Then starts the real
`newsbot run` against the fake Bot API and measures, from spawn:

- ready: the bot has answered /start and the scheduler has fetched a feed (target ≤ 2 s);
- RSS (VmRSS from /proc) once the first tick is done (target ≤ 250 MB): every source's first
  poll stored and clustered, and then the tick's last step, the meanings of the window's
  stories that have none (`Poller.cluster_backlog`; a database built here has none, so a run
  computes up to 1,000 of them), is over; and the peak (VmHWM). The RSS when the first tick's
  stories are clustered, before that last step, is printed too.

    python bench/bench_cluster_start.py [--stories 100000] [--archive 1000000] [--keep DIR]
        [--database postgresql://postgres@127.0.0.1:5432/newsbot_bench_start]

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

With `--database postgresql://…/NAME` the same database is built on PostgreSQL instead (the
stories go in through asyncpg's COPY, the clusterer's state by the same storage code), as the
database NAME_built, and each run starts `newsbot run` (role `all`) on NAME, a copy of it
(`CREATE DATABASE NAME TEMPLATE NAME_built`). The bench creates and drops both; with `--keep`
it keeps NAME_built for later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
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

import asyncpg
import numpy
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.whole_process import newsbot_environment, precompile
from news.events.clustering import Clusterer
from news.policy import CLUSTER_WINDOW
from news.topics import document_terms
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


_STORY_COLUMNS = [
    *("id", "source_id", "entry_id", "title", "summary", "link", "published_at"),
    *("first_seen_at", "language", "terms", "cluster_id"),
]


def story_row(
    n: int, title: str, published: str, terms: str, cluster_id: int
) -> tuple[object, ...]:
    """Story `n`'s parameters of `_STORY_INSERT`, its times and terms already encoded."""
    link = f"https://bench.example/{n}"
    return (n, 1 + n % SOURCES, f"e{n}", title, link, published, published, terms, cluster_id)


async def insert_stories(conn: AsyncConnection, rows: list[tuple[object, ...]]) -> None:
    """Store rows of `_STORY_INSERT`'s parameters: SQLite's executemany, PostgreSQL's COPY."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql(_STORY_INSERT, rows)
        return
    # COPY on the connection of the transaction: it commits with the clusters' state.
    driver = (await conn.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    await driver.copy_records_to_table(
        "stories",
        records=[(*row[:4], "", *row[4:7], "en", *row[7:]) for row in rows],
        columns=_STORY_COLUMNS,
    )


async def build(url: str, window: int, archive: int, now: datetime) -> None:
    """Archive stories (each its own cluster), then the window's, clustered by a real
    clusterer whose state is stored by the code the cluster keeper stores it with.

    Stories go in as plain tuples through the driver's executemany, or COPY on PostgreSQL (a
    million SQLAlchemy parameter dicts cost minutes), encoded by the columns' own types."""
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
                title = " ".join(words).capitalize()
                rows.append(story_row(n, title, published, encode_terms(headline_terms(words)), n))
            async with storage.engine.begin() as conn:
                if dialect.name == "sqlite":
                    # The unique index on (source, entry id) is filled out of order: a bigger
                    # page cache than SQLite's 2 MB saves most of the page reads and writes.
                    await conn.exec_driver_sql("PRAGMA cache_size = -262144")
                await insert_stories(conn, rows)
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
                    # A meaning, as the poller gives each story (issue 23): the clusters keep
                    # their events' meanings, which a start loads for the last 24 hours.
                    meaning=meaning(n),
                )
                row = story_row(
                    n, title, encode_time(published_at), encode_terms(terms), assigned.cluster_id
                )
                rows.append(row)
            # As a turn of the keeper leaves them: the stories with their clusters, and the
            # clusterer's changes written by storage's own code, at the next version.
            async with storage.engine.begin() as conn:
                await insert_stories(conn, rows)
                await write_cluster_state(conn, clusterer.changes())
        if dialect.name == "postgresql":
            async with storage.engine.begin() as conn:
                # The ids were given, not drawn: the run's fresh stories draw after them.
                await conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('stories', 'id'), max(id)) FROM stories"
                )
        print(f"  {len(clusterer.clusters()):,} open clusters in the window")
    finally:
        await storage.close()


def meaning(story_id: int) -> numpy.ndarray:
    """A story's meaning: a random direction of the encoder's 512 (unit length)."""
    vector = numpy.random.default_rng(story_id).standard_normal(512).astype(numpy.float32)
    return vector / numpy.linalg.norm(vector)


_FRESH_CLUSTERED = (
    "SELECT count(*) FROM stories WHERE link LIKE 'https://fresh.%' AND cluster_id IS NOT NULL"
)


async def wait_clustered(url: str, count: int) -> None:
    """Until `count` fresh stories have a cluster (read without disturbing the bot)."""
    if url.startswith("postgresql"):
        connection = await asyncpg.connect(url)
        try:
            while True:
                if await connection.fetchval(_FRESH_CLUSTERED) >= count:
                    return
                await asyncio.sleep(0.2)
        finally:
            await connection.close()
        return
    path = url.removeprefix("sqlite:///")
    while True:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            row = db.execute(_FRESH_CLUSTERED).fetchone()
        if row[0] >= count:
            return
        await asyncio.sleep(0.2)


_MEANINGS = "SELECT count(*) FROM story_meanings"


async def wait_meanings(url: str, *, quiet: float = 2.0, patience: float = 60.0) -> None:
    """Until the first tick's last step, the meanings of stories that have none (issue 23:
    `Poller.cluster_backlog` computes them after clustering, and stores them at once), is
    done: the count of `story_meanings` has grown and then stays put for `quiet` seconds (or
    has not grown for `patience` seconds). At once on a schema without meanings."""
    first = seen = -1
    waited = still = 0.0
    connection = await asyncpg.connect(url) if url.startswith("postgresql") else None
    try:
        while True:
            try:
                if connection is not None:
                    count = int(await connection.fetchval(_MEANINGS))
                else:
                    path = url.removeprefix("sqlite:///")
                    with closing(
                        sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
                    ) as db:
                        count = int(db.execute(_MEANINGS).fetchone()[0])
            except (sqlite3.OperationalError, asyncpg.UndefinedTableError):
                return
            first = count if first < 0 else first
            still = still + 0.5 if count == seen else 0.0
            seen = count
            if (count > first and still >= quiet) or (count == first and waited >= patience):
                return
            await asyncio.sleep(0.5)
            waited += 0.5
    finally:
        if connection is not None:
            await connection.close()


def bind_time(at: datetime) -> str:
    """`at` as a time column stores it on SQLite."""
    process = cluster_stories.c.published_at.type.bind_processor(sqlite.dialect())
    return cast(Callable[[datetime], str], process)(at)


_WINDOW_STORIES = "SELECT count(*) FROM cluster_stories WHERE published_at >= "


async def window_stories(url: str) -> int:
    """Clustered stories a start loads now (the window's), as storage selects them."""
    horizon = datetime.now(UTC) - CLUSTER_WINDOW
    if url.startswith("postgresql"):
        connection = await asyncpg.connect(url)
        try:
            return int(await connection.fetchval(_WINDOW_STORIES + "$1", horizon))
        finally:
            await connection.close()
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute(_WINDOW_STORIES + "?", (bind_time(horizon),)).fetchone()
    return int(row[0])


class PostgresDatabases:
    """The database built once (NAME_built) and each run's copy of it (NAME) on a server.

    The built database is closed to connections once built, so that nothing (autovacuum
    either) holds it open when a run copies it; its comment says when it was built."""

    def __init__(self, url: str) -> None:
        given = make_url(url).set(drivername="postgresql")
        if not given.database or given.database in ("postgres", "test"):
            raise SystemExit(f"--database names a database of its own, not {given.database!r}")
        self.name, self.built_name = given.database, f"{given.database}_built"
        self.url = given.render_as_string(hide_password=False)
        self.built_url = given.set(database=self.built_name).render_as_string(hide_password=False)
        self._admin_url = given.set(database="postgres").render_as_string(hide_password=False)

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(self._admin_url)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def built_at(self) -> float | None:
        """When the built database was finished (epoch seconds), None if it is not."""
        connection = await asyncpg.connect(self._admin_url)
        try:
            comment = await connection.fetchval(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                self.built_name,
            )
        finally:
            await connection.close()
        return float(json.loads(comment)["built_at"]) if comment else None

    async def create_built(self) -> None:
        """A new empty built database (an unfinished one is dropped)."""
        await self._admin(
            f'DROP DATABASE IF EXISTS "{self.built_name}" WITH (FORCE)',
            f'CREATE DATABASE "{self.built_name}"',
        )

    async def finish_built(self, at: float) -> None:
        """Analyse the built database, as autovacuum leaves a running bot's, and close it."""
        connection = await asyncpg.connect(self.built_url)
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()
        await self._admin(
            f"COMMENT ON DATABASE \"{self.built_name}\" IS '{json.dumps({'built_at': at})}'",
            f'ALTER DATABASE "{self.built_name}" ALLOW_CONNECTIONS false',
        )

    async def copy(self) -> None:
        """The run's database: a new copy of the built one."""
        await self._admin(
            f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
            f'CREATE DATABASE "{self.name}" TEMPLATE "{self.built_name}"',
        )

    async def drop(self, *, built: bool) -> None:
        """Drop the run's database, and the built one if `built`."""
        names = [self.name, *([self.built_name] if built else [])]
        await self._admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names))


def rss_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


async def run(args: argparse.Namespace, work: Path) -> None:
    postgres = PostgresDatabases(args.database) if args.database else None
    try:
        await _run(args, work, postgres)
    finally:
        if postgres is not None:
            await postgres.drop(built=args.keep is None)


async def _run(args: argparse.Namespace, work: Path, postgres: PostgresDatabases | None) -> None:
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
        built_url, url = f"sqlite:///{built}", f"sqlite:///{database}"
        built_at = built.stat().st_mtime if built.exists() else None
        if postgres is not None:
            built_url, url = postgres.built_url, postgres.url
            built_at = await postgres.built_at() if args.keep else None

        def environment(database_url: str) -> dict[str, str]:
            return newsbot_environment(
                built,
                sources_file,
                DATABASE_URL=database_url,
                NEWSBOT_ALLOW_PRIVATE_SOURCES="1",
                XDG_CACHE_HOME=str(work / "cache"),
                TELEGRAM_BOT_TOKEN=telegram.token,
                TELEGRAM_API_URL=telegram.base_url,
            )

        newsbot = [sys.executable, "-m", "bot"]
        if built_at is None:
            started = time.perf_counter()
            if postgres is not None:
                await postgres.create_built()
            # The first command creates the schema and syncs the sources, as a user's does.
            made = await asyncio.create_subprocess_exec(
                *newsbot,
                *("sources", "list"),
                env=environment(built_url),
                cwd=work,
                stdout=asyncio.subprocess.DEVNULL,
            )
            await made.wait()
            await build(built_url, args.stories, args.archive, datetime.now(UTC))
            built_at = time.time()
            if postgres is not None:
                await postgres.finish_built(built_at)
            print(
                f"built {args.stories:,} window and {args.archive:,} archive stories in "
                f"{time.perf_counter() - started:.0f} s"
            )
        # Each run starts from the database as built: a run stores and clusters its fresh
        # stories, and the next run's would then be nothing new to cluster.
        if postgres is not None:
            await postgres.copy()
        else:
            shutil.copyfile(built, database)
            for suffix in ("-wal", "-shm"):
                database.with_name(database.name + suffix).unlink(missing_ok=True)
        print(
            f"{await window_stories(url):,} stories in the 48 h window to load (built "
            f"{(time.time() - built_at) / 60:.0f} min ago: the window moves on)"
        )
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *newsbot,
            "run",
            env=environment(url),
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
            rss_clustered, _ = rss_mb(process.pid)
            # The tick's last step: the meanings of stories without one (a restart over a
            # database from before meanings: up to 1,000 of the window's, newest first).
            await wait_meanings(url)
            tick_done = time.perf_counter() - started
            rss, peak = rss_mb(process.pid)
        finally:
            process.terminate()
            await process.wait()
        ready = max(answered, polled)
        print(f"first tick's {SOURCES} new stories clustered {clustered:.2f} s after start")
        print(
            f"first tick's meanings done {tick_done:.2f} s after start (RSS when its stories "
            f"were clustered, the meanings step still to come: {rss_clustered:.0f} MB)"
        )
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
    parser.add_argument(
        "--database",
        help="postgresql://…/NAME: build NAME_built on that server and run on NAME, its copy",
    )
    args = parser.parse_args()
    precompile()
    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, work))


if __name__ == "__main__":
    main()
