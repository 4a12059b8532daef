"""Benchmark: /latest over 1,000,000 stories (10,000,000 with --stories), SQLite and PostgreSQL.

Builds a database of N stories (default 1,000,000) in six languages over two years: words drawn
Zipf-like (s = 1.05) from a vocabulary made of the words of the labelled evaluation set, every
country name and demonym of news/data/countries.tsv, 80 real people's names and a long tail of
made-up words; 300 sources. Stories come in events, as the clusterer leaves them (each report's
`cluster_id` is its event's first report): half the events have one report, most 1-5, a few
dozens, one in a thousand several hundred, their reports published within minutes to a day and
sharing the event's headline words.

Measured, in-process (this process runs the code path the bot runs):
  mixed        1,000 topics shaped like readers' ones: a country or a person (half of them), one
               or two news words, phrases, OR, exclusions, `source:`, Cyrillic words
  rare         40 words each in about 0.005 % of stories (a few hundred at 10 M)
  common       40 words in about 0.5 %
  very common  40 words in about 5 %
each through `parse_topic`, `news.reading.latest_events(storage, topic, 5)` (stories grouped
into events) and `handlers.render.latest_messages`, and again as the first search alone
(`Storage.latest` for 6 stories), p50/p99 beside the targets; the database's bytes on disk per
story, split into the full-text index and the rest; `newsbot latest WORD` as a whole process
(time and peak RSS) for one word of each class; --explain prints the plans of the statements
/latest really sends.

Builds are bounded: stories are generated and loaded in batches of 50,000 (SQLite executemany,
PostgreSQL COPY), with the full-text index, secondary indexes, foreign keys and triggers off,
then each index is built once. The databases are kept (SQLite in --cache, default
$NEWSBOT_BENCH_DATA or /tmp/newsbot-bench; PostgreSQL as database --pg-database) and reused
while their stamp (schema head + generator version, in `bot_state`) matches; otherwise rebuilt.

    python bench/bench_latest.py [--stories 1000000] [--backend sqlite|postgresql|both]
    NEWSBOT_BENCH_DATA=/data python bench/bench_latest.py --stories 10000000 --build-only
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers.i18n import english
from handlers.render import latest_messages
from news.errors import TopicError
from news.reading import latest_events
from news.topics import parse_topic, stem, words
from storage import SqlStorage, create_engine
from storage.database import head_revision, migrate

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
LANGUAGES = {"en": 0.5, "de": 0.1, "fr": 0.1, "es": 0.1, "ru": 0.1, "uk": 0.1}
TARGET = (5.0, 25.0)  # in-process p50, p99 (ms), every topic class, both backends
PEOPLE = (
    "Volodymyr Zelensky, Vladimir Putin, Emmanuel Macron, Olaf Scholz, Friedrich Merz, Xi Jinping,"
    " Joe Biden, Donald Trump, Kamala Harris, Recep Erdogan, Narendra Modi, Benjamin Netanyahu,"
    " Keir Starmer, Giorgia Meloni, Pedro Sanchez, Ursula von der Leyen, Antonio Guterres,"
    " Sergei Lavrov, Dmitry Peskov, Andriy Yermak, Dmytro Kuleba, Vitali Klitschko, Ali Khamenei,"
    " Masoud Pezeshkian, Mohammed bin Salman, Lula da Silva, Javier Milei, Claudia Sheinbaum,"
    " Justin Trudeau, Anthony Albanese, Fumio Kishida, Yoon Suk Yeol, Kim Jong Un,"
    " Jens Stoltenberg,"
    " Mark Rutte, Viktor Orban, Alexander Lukashenko, Alexei Navalny, Yulia Navalnaya, Elon Musk,"
    " Christine Lagarde, Jerome Powell"
)
FILLER = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "ber",
    "dan",
    "gol",
    "mar",
    "pen",
    "sil",
    "tor",
    "ven",
    "zak",
    "hul",
    "bri",
    "dro",
    "fle",
    "gra",
]


def _zipf_weights(size: int, exponent: float = 1.05) -> list[float]:
    return list(itertools.accumulate(1 / (rank**exponent) for rank in range(1, size + 1)))


class Vocabulary:
    """Per language, words ranked by how common they are, with their terms precomputed."""

    def __init__(self, rng: random.Random) -> None:
        eval_lines = (ROOT / "tests/data/topic_eval/stories.tsv").read_text("utf-8").splitlines()
        countries = (ROOT / "news/data/countries.tsv").read_text("utf-8").splitlines()
        people = [w for name in PEOPLE.split(",") for w in words(name)]
        self.words: dict[str, list[str]] = {}
        self.terms: dict[str, list[str]] = {}
        self.cumulative: dict[str, list[float]] = {}
        for language in LANGUAGES:
            common = [
                w for line in eval_lines if line.startswith(language) for w in words(line[3:])
            ]
            names = [
                w
                for line in countries
                if not line.startswith("#") and line.split("\t")[1] in (language, "en")
                for w in words(line.split("\t")[2])
            ]
            ranked = list(dict.fromkeys(common + people + names))
            rng.shuffle(ranked)
            tail = {
                "".join(rng.choice(FILLER) for _ in range(rng.randint(2, 4))) for _ in range(30_000)
            }
            vocabulary = ranked[:300] + sorted(tail)[:2_000] + ranked[300:] + sorted(tail)[2_000:]
            self.words[language] = vocabulary
            self.terms[language] = [stem(word, language) for word in vocabulary]
            self.cumulative[language] = _zipf_weights(len(vocabulary))

    def sample(self, rng: random.Random, language: str, count: int) -> list[int]:
        cumulative = self.cumulative[language]
        top = cumulative[-1]
        return [bisect.bisect(cumulative, rng.random() * top) for _ in range(count)]


#: Bumped whenever the generated stories change; a cached database built by another version of
#: this generator (or for another schema) is rebuilt.
GENERATOR = "events-1"
BUILD_KEY = "bench_latest_build"
BATCH = 50_000
# Event sizes: most events have 1-5 reports, a few a few dozen, one in a thousand several hundred.
_SIZES = [(0.50, 1, 1), (0.20, 2, 2), (0.12, 3, 3), (0.08, 4, 5), (0.07, 6, 20), (0.029, 21, 80)]
_BIG = (100, 800)


def _event_size(rng: random.Random) -> int:
    draw = rng.random()
    for chance, low, high in _SIZES:
        if draw < chance:
            return rng.randint(low, high)
        draw -= chance
    return rng.randint(*_BIG)


def story_batches(
    count: int, vocabulary: Vocabulary, sources: int, seed: int = 4, batch: int = BATCH
) -> Iterator[list[tuple]]:
    """Rows (id, source_id, entry_id, title, summary, link, published, seen, language, terms,
    cluster_id), `batch` at a time, in publication order, the same every run.

    Stories come in events: an event's first report opens it (its id is the event's cluster
    id, as the clusterer assigns), its other reports follow within a window that grows with
    its size (a few minutes for a pair, a day for the biggest), from other outlets, in the same
    language, sharing the event's six headline words.
    """
    rng = random.Random(seed)
    languages, weights = zip(*LANGUAGES.items(), strict=True)
    step = SPAN / count
    per_hour = count / (SPAN / timedelta(hours=1))
    due: list[tuple[int, int, int]] = []  # (position, tie-break, event number)
    events: dict[int, tuple[int, str, list[int], int]] = {}  # number: (cluster, lang, core, left)
    opened = 0
    rows: list[tuple] = []
    for number in range(count):
        story_id = number + 1
        if due and due[0][0] <= number:
            _, _, event = heapq.heappop(due)
            cluster_id, language, core, left = events[event]
            if left <= 1:
                del events[event]
            else:
                events[event] = (cluster_id, language, core, left - 1)
            own = vocabulary.sample(rng, language, rng.randint(19, 39))
            rng.shuffle(core)
            picked = core + own
        else:
            language = rng.choices(languages, weights)[0]
            picked = vocabulary.sample(rng, language, rng.randint(25, 45))
            cluster_id = story_id
            size = _event_size(rng)
            if size > 1:
                opened += 1
                # Reports of an event arrive within minutes (a pair) to a day (hundreds).
                window = max(20, int(per_hour * min(24.0, 0.25 + size / 30)))
                events[opened] = (cluster_id, language, picked[:6], size - 1)
                for _ in range(size - 1):
                    heapq.heappush(due, (number + rng.randint(1, window), rng.random(), opened))
        vocab, terms = vocabulary.words[language], vocabulary.terms[language]
        title = " ".join(vocab[i] for i in picked[:9]).capitalize()
        summary = " ".join(vocab[i] for i in picked[9:]).capitalize() + "."
        # Published in time order, give or take an hour: feeds are polled late and out of order.
        published = NOW - SPAN + step * number - timedelta(seconds=rng.randint(0, 3600))
        source = rng.randint(1, sources)
        rows.append(
            (
                story_id,
                source,
                f"e{number}",
                title,
                summary,
                f"https://s{source}.example/{number}",
                published,
                published + timedelta(minutes=5),
                language,
                " ".join(terms[i] for i in picked),
                cluster_id,
            )
        )
        if len(rows) == batch:
            yield rows
            rows = []
    if rows:
        yield rows


def _topics(vocabulary: Vocabulary, count: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    countries = [
        line.split("\t")[2]
        for line in (ROOT / "news/data/countries.tsv").read_text("utf-8").splitlines()
        if not line.startswith("#") and line.split("\t")[1] == "en"
    ]
    people = [name.strip() for name in PEOPLE.split(",")]
    english = vocabulary.words["en"]

    def word(language: str = "en") -> str:
        return vocabulary.words[language][vocabulary.sample(rng, language, 1)[0]]

    makers = [
        (0.30, lambda: rng.choice(countries[:400]).lower()),
        (0.20, lambda: rng.choice(people).split()[-1].lower()),
        (0.12, lambda: word()),
        (0.10, lambda: f"{word()} {word()}"),
        (0.06, lambda: f'"{rng.choice(people).lower()}"'),
        (0.05, lambda: f"{word()} OR {word()}"),
        (0.05, lambda: f"{rng.choice(countries).lower()} -{word()}"),
        (0.04, lambda: f"{word()} source:s{rng.randint(1, 300)}"),
        (0.05, lambda: word(rng.choice(["ru", "uk"]))),
        (0.03, lambda: rng.choice(english[len(english) // 2 :])),  # rare: a handful of stories
    ]
    chances, builders = zip(*makers, strict=True)
    topics: list[str] = []
    while len(topics) < count:
        raw = rng.choices(builders, chances)[0]()
        try:
            parse_topic(raw)
        except TopicError:
            continue
        topics.append(raw)
    return topics


_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_COLUMNS = [
    "id",
    "source_id",
    "entry_id",
    "title",
    "summary",
    "link",
    "published_at",
    "first_seen_at",
    "language",
    "terms",
    "cluster_id",
]
# The FTS5 time key of a story row, as the migration's trigger computes it (`storage.search`).
_FTS_KEY = (
    "(max(0, min(4294967295, CAST(strftime('%s', published_at) AS INTEGER))) * 2147483648 + id)"
)


def build_stamp() -> str:
    """What a cached database must have been built with: the schema and this generator."""
    return f"{head_revision()}/{GENERATOR}"


# What the triggers of migration 0016 keep of each event's outlets, filled at once after a load
# that ran with the stories' triggers off (the migration's own backfill); the triggers on
# cluster_coverage stay on and count each event's outlets as it is filled.
_FILL_COVERAGE = (
    "INSERT INTO cluster_coverage "
    "(cluster_id, source_id, reports, first_id, first_published_at) "
    "SELECT cluster_id, source_id, reports, id, published_at FROM ("
    "SELECT cluster_id, source_id, id, published_at, "
    "count(*) OVER (PARTITION BY cluster_id, source_id) AS reports, "
    "row_number() OVER (PARTITION BY cluster_id, source_id ORDER BY published_at, id) AS n "
    "FROM stories WHERE cluster_id IS NOT NULL) AS reported WHERE n = 1",
)


def _progress(what: str, done: int, count: int, began: float) -> None:
    elapsed = time.perf_counter() - began
    print(f"  {what}: {done:,} of {count:,} stories, {elapsed:.0f} s", flush=True)


def _build_sqlite(path: Path, count: int, vocabulary: Vocabulary, sources: int) -> None:
    """Migrate a new database, load the stories with the full-text index and the secondary
    indexes off, then build those once and put the triggers back."""
    import sqlite3

    engine = create_engine(f"sqlite:///{path}")
    asyncio.run(migrate(engine))
    asyncio.run(engine.dispose())
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-1000000")
    saved = connection.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'stories' "
        "AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _ in saved:
        connection.execute(f"DROP {kind} {name}")
    when = NOW.strftime(_SQLITE_FORMAT)
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO sources (id, url, title, origin, enabled, error_count, created_at) "
        "VALUES (?, ?, ?, 'file', 1, 0, ?)",
        [(i, f"https://s{i}.example/feed", f"Source s{i}", when) for i in range(1, sources + 1)],
    )
    began, done = time.perf_counter(), 0
    insert = (
        f"INSERT INTO stories ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    )
    for rows in story_batches(count, vocabulary, sources):
        connection.executemany(
            insert,
            (
                (*r[:6], r[6].strftime(_SQLITE_FORMAT), r[7].strftime(_SQLITE_FORMAT), *r[8:])
                for r in rows
            ),
        )
        done += len(rows)
        if done % 1_000_000 < len(rows):
            _progress("SQLite stories", done, count, began)
    connection.execute(
        "INSERT INTO source_counts (source_id, stories) "
        "SELECT source_id, count(*) FROM stories GROUP BY source_id"
    )
    connection.execute("COMMIT")
    # The full-text index in one pass, in time-key order, with a large in-memory buffer (fewer,
    # larger segments to merge); the buffer size goes back to FTS5's default afterwards.
    connection.execute("INSERT INTO stories_fts(stories_fts, rank) VALUES ('hashsize', 268435456)")
    connection.execute("BEGIN")
    connection.execute(
        f"INSERT INTO stories_fts(rowid, terms, source) "
        f"SELECT {_FTS_KEY}, terms, 's' || source_id || ' l' || language FROM stories ORDER BY 1"
    )
    connection.execute("COMMIT")
    _progress("SQLite full-text index", count, count, began)
    connection.execute("INSERT INTO stories_fts(stories_fts) VALUES ('optimize')")
    connection.execute("INSERT INTO stories_fts(stories_fts, rank) VALUES ('hashsize', 1048576)")
    _progress("SQLite full-text index merged", count, count, began)
    for _, _, sql in sorted(saved):  # indexes before triggers
        connection.execute(sql)
    _progress("SQLite indexes", count, count, began)
    connection.execute("BEGIN")
    for statement in _FILL_COVERAGE:
        connection.execute(statement)
    connection.execute("COMMIT")
    _progress("SQLite events' outlets", count, count, began)
    connection.execute("ANALYZE")
    connection.execute(
        "INSERT INTO bot_state (key, value) VALUES (?, ?)", (BUILD_KEY, build_stamp())
    )
    # No VACUUM (a copy of the whole file): the pages the merges freed are counted apart.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()


async def _build_postgres(url: str, count: int, vocabulary: Vocabulary, sources: int) -> None:
    """Migrate, load the stories by COPY with the indexes, foreign keys, unique constraints and
    triggers off, then build the indexes once (the GIN index last)."""
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute("SET synchronous_commit = off")
        constraints = await connection.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
            "WHERE conrelid = 'stories'::regclass AND contype IN ('u', 'f')"
        )
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'stories' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'stories'::regclass)"
        )
        for row in constraints:
            await connection.execute(f"ALTER TABLE stories DROP CONSTRAINT {row['conname']}")
        for row in indexes:
            await connection.execute(f"DROP INDEX {row['indexname']}")
        await connection.execute("ALTER TABLE stories DISABLE TRIGGER USER")
        await connection.copy_records_to_table(
            "sources",
            records=[
                (i, f"https://s{i}.example/feed", f"Source s{i}", "file", True, 0, NOW)
                for i in range(1, sources + 1)
            ],
            columns=["id", "url", "title", "origin", "enabled", "error_count", "created_at"],
        )
        began, done = time.perf_counter(), 0
        for rows in story_batches(count, vocabulary, sources):
            await connection.copy_records_to_table("stories", records=rows, columns=_COLUMNS)
            done += len(rows)
            if done % 1_000_000 < len(rows):
                _progress("PostgreSQL stories", done, count, began)
        await connection.execute("SET maintenance_work_mem = '1GB'")
        for row in constraints:
            await connection.execute(
                f"ALTER TABLE stories ADD CONSTRAINT {row['conname']} {row['definition']}"
            )
        for row in sorted(indexes, key=lambda row: "USING gin" in row["indexdef"]):
            await connection.execute(row["indexdef"])
            _progress(f"PostgreSQL {row['indexname']}", count, count, began)
        for statement in _FILL_COVERAGE:
            await connection.execute(statement)
        _progress("PostgreSQL events' outlets", count, count, began)
        await connection.execute("ALTER TABLE stories ENABLE TRIGGER USER")
        await connection.execute(
            "INSERT INTO source_counts (source_id, stories) "
            "SELECT source_id, count(*) FROM stories GROUP BY source_id"
        )
        await connection.execute("SELECT setval('stories_id_seq', (SELECT max(id) FROM stories))")
        await connection.execute("VACUUM ANALYZE")
        await connection.execute(
            "INSERT INTO bot_state (key, value) VALUES ($1, $2)", BUILD_KEY, build_stamp()
        )
    finally:
        await connection.close()


def _sqlite_stamp(path: Path) -> str | None:
    import sqlite3

    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT value FROM bot_state WHERE key = ?", (BUILD_KEY,)
        ).fetchone()
    except sqlite3.Error:
        row = None
    finally:
        connection.close()
    return None if row is None else str(row[0])


async def _postgres_database(admin_url: str, name: str) -> tuple[str, bool]:
    """The URL of the benchmark database, and whether it holds this generator's stories
    for the current schema (one built otherwise is dropped)."""
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(admin_url)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            connection = await asyncpg.connect(url)
            try:
                stamp = await connection.fetchval(
                    "SELECT value FROM bot_state WHERE key = $1", BUILD_KEY
                )
            except asyncpg.PostgresError:
                stamp = None
            finally:
                await connection.close()
            if stamp == build_stamp():
                return url, True
            print(f"PostgreSQL database {name} was built as {stamp}; rebuilding")
            await admin.execute(f'DROP DATABASE "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url, False


#: Topic classes by how many stories hold the word: about 0.005 % (a few hundred at 10 M),
#: 0.5 % and 5 % ("very common").
CLASSES = {"rare": 0.00005, "common": 0.005, "very common": 0.05}
WORDS_PER_CLASS = 40


def class_topics(vocabulary: Vocabulary, count: int, sources: int) -> dict[str, list[str]]:
    """English words per class, chosen by the share of stories holding them among the first
    200,000 generated (the generator's shares do not change along the stream)."""
    sample = 0
    holding: Counter[str] = Counter()
    for rows in story_batches(count, vocabulary, sources):
        for row in rows:
            holding.update(set(row[9].split()))
        sample += len(rows)
        if sample >= 200_000:
            break
    english = {
        term: word
        for word, term in zip(vocabulary.words["en"], vocabulary.terms["en"], strict=True)
        if len(word) > 3 and _parses(word)
    }
    chosen: dict[str, list[str]] = {}
    for name, share in CLASSES.items():
        near = sorted(
            (term for term in english if holding[term]),
            key=lambda term: abs(math.log(holding[term] / sample / share)),
        )
        chosen[name] = [english[term] for term in near[:WORDS_PER_CLASS]]
        shares = sorted(holding[term] / sample for term in near[:WORDS_PER_CLASS])
        print(
            f"  {name}: {len(chosen[name])} words in {shares[0]:.4%}–{shares[-1]:.4%} of stories"
            f" (e.g. {', '.join(chosen[name][:3])})"
        )
    return chosen


def _parses(raw: str) -> bool:
    try:
        parse_topic(raw)
    except TopicError:
        return False
    return True


async def _run_topics(
    url: str,
    topics: Sequence[str],
    repeats: int = 1,
    *,
    search_only: bool = False,
    recent: bool = True,
) -> tuple[list[float], int]:
    """Latency of each topic through the /latest path (ms), and how many answers were empty.

    `search_only`: the first search alone (`Storage.latest` for the 6 newest matches), without
    the events' reports and the rendering. `recent=False`: as if PostgreSQL had no recent index
    (`storage.recent`), for the comparison."""
    engine = create_engine(url, **({} if url.startswith("sqlite") else {"pool_size": 2}))
    storage = SqlStorage(engine)
    if not recent:
        storage._recent_from, storage._recent_read_at = None, math.inf
    try:
        for raw in topics[:50]:  # warm the connection pool, caches and prepared statements
            await storage.latest(parse_topic(raw), limit=5)
        timings, empty = [], 0
        for _ in range(repeats):
            for raw in topics:
                started = time.perf_counter()
                topic = parse_topic(raw)
                if search_only:
                    found: Sequence[object] = await storage.latest(topic, limit=6)
                else:
                    found, _ = await latest_events(storage, topic, 5)
                    latest_messages(f"Latest on {topic.text}", found, NOW, texts=english())
                timings.append((time.perf_counter() - started) * 1000)
                empty += not found
        return timings, empty
    finally:
        await storage.close()


async def _recent_index(url: str) -> datetime | None:
    """Build PostgreSQL's recent index if it is missing or old (`storage.recent`); its bound."""
    storage = SqlStorage(create_engine(url))
    try:
        return await storage.refresh_recent_search()
    finally:
        await storage.close()


async def explain(url: str, raw: str) -> list[str]:
    """The plans of the statements `/latest` runs for `raw` (SQLite: EXPLAIN QUERY PLAN;
    PostgreSQL: EXPLAIN ANALYZE with buffers), taken from the statements it really sends."""
    from sqlalchemy import event

    engine = create_engine(url, **({} if url.startswith("sqlite") else {"pool_size": 1}))
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    storage = SqlStorage(engine)
    lines: list[str] = []
    try:
        await latest_events(storage, parse_topic(raw), 5)  # warm, as the runs are
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        await latest_events(storage, parse_topic(raw), 5)
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        postgres = engine.dialect.name == "postgresql"
        prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
        async with engine.connect() as conn:
            for statement, parameters in sent:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                lines.append("  " + " ".join(statement.split())[:300])
                rows = await conn.exec_driver_sql(prefix + statement, parameters)
                lines += ["    " + " | ".join(str(v) for v in row) for row in rows]
    finally:
        await storage.close()
    return lines


async def _sizes(url: str, path: Path | None) -> tuple[int, dict[str, int]]:
    """The database's bytes on disk, and how many of them are the full-text index."""
    if path is not None:
        import sqlite3

        total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            parts = dict(
                connection.execute(
                    "SELECT CASE WHEN name LIKE 'stories_fts%' THEN 'full-text index (FTS5)' "
                    "WHEN name = 'stories' THEN 'stories table' "
                    "WHEN name LIKE '%stories%' THEN 'stories indexes' ELSE 'other' END, "
                    "sum(pgsize) FROM dbstat GROUP BY 1"
                ).fetchall()
            )
            free = connection.execute("PRAGMA freelist_count").fetchone()[0]
            page = connection.execute("PRAGMA page_size").fetchone()[0]
            parts["free pages (the build's merges; VACUUM returns them)"] = free * page
        finally:
            connection.close()
        return total, parts
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        total = int(await connection.fetchval("SELECT pg_database_size(current_database())"))
        gin = int(await connection.fetchval("SELECT pg_relation_size('ix_stories_search')"))
        recent = int(
            await connection.fetchval(
                "SELECT coalesce(sum(pg_relation_size(indexname::regclass)), 0) FROM pg_indexes "
                "WHERE indexname LIKE 'ix_stories_search_recent_%'"
            )
        )
        heap = int(await connection.fetchval("SELECT pg_table_size('stories')"))
        indexes = int(await connection.fetchval("SELECT pg_indexes_size('stories')"))
        # The stored tsvector column's share of the table, from a 1 % sample of its pages.
        share = await connection.fetchval(
            "SELECT sum(pg_column_size(search))::float8 / nullif(sum(pg_column_size(stories.*)), 0)"
            " FROM stories TABLESAMPLE SYSTEM (1)"
        )
        column = int(heap * float(share or 0))
        return total, {
            "full-text index (GIN)": gin,
            "recent weeks' full-text index (GIN)": recent,
            "tsvector column (in the table)": column,
            "stories table without it": heap - column,
            "other stories indexes": indexes - gin - recent,
        }
    finally:
        await connection.close()


def _percentiles(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _report(
    backend: str,
    results: dict[str, tuple[list[float], int]],
    size: tuple[int, dict[str, int]],
    stories: int,
) -> None:
    target50, target99 = TARGET
    load = os.getloadavg()[0]
    print(f"{backend}, {stories:,} stories, in-process /latest (load average {load:.1f}):")
    for name, (timings, empty) in results.items():
        p50, p99 = _percentiles(timings)
        met = "met" if p50 <= target50 and p99 <= target99 else "NOT met"
        print(
            f"  {name:<24} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {max(timings):6.1f} ms"
            f"  ({len(timings)} runs, {empty} empty)  target p50 ≤ {target50} ms,"
            f" p99 ≤ {target99} ms: {met}"
        )
    total, parts = size
    if not total:
        return
    print(f"  size {total / stories:6.0f} bytes per story ({total / 2**20:,.0f} MiB), of which:")
    for part, amount in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"    {part:<32} {amount / stories:6.0f} bytes per story ({amount / total:4.0%})")


def whole_process(url: str, cache: Path, sources: int, words: Sequence[str], runs: int) -> None:
    """`newsbot latest WORD` from start to exit: median seconds and peak RSS of the tree."""
    from bench.whole_process import clean_environment, precompile

    precompile()
    cache.mkdir(parents=True, exist_ok=True)  # a PostgreSQL-only run made no SQLite folder
    sources_file = cache / f"latest-sources-{sources}.txt"
    sources_file.write_text("".join(f"https://s{i}.example/feed\n" for i in range(1, sources + 1)))
    env = {
        **clean_environment(),
        "DATABASE_URL": url,
        "NEWSBOT_SOURCES": str(sources_file),
        "PYTHONPATH": str(ROOT),
        "XDG_CACHE_HOME": str(cache / "xdg-cache"),
    }
    script = Path(sys.executable).with_name("newsbot")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    # Measured from a small parent: this process is large, and a child's peak RSS would count
    # pages it held for a moment after the spawn.
    script = (
        "import json, sys; from bench.whole_process import measure; "
        "run = measure(json.loads(sys.argv[1]), json.loads(sys.argv[2])); "
        "print(run.seconds, run.whole_mb, run.cpu_seconds)"
    )

    def measured(argv: list[str]) -> tuple[float, float, float]:
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps(argv), json.dumps(env)],
            env={**env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, megabytes, cpu = done.stdout.split()
        return float(seconds), float(megabytes), float(cpu)

    measured([*argv, "latest", "x"])  # the first ever builds the country table's cache
    for word in words:
        done = [measured([*argv, "latest", word]) for _ in range(runs)]
        seconds = statistics.median(run[0] for run in done)
        peak = max(run[1] for run in done)
        cpu = statistics.median(run[2] for run in done)
        print(
            f"  whole process `newsbot latest {word}`: median {seconds:.2f} s (CPU {cpu:.2f} s),"
            f" peak RSS {peak:.0f} MB ({runs} runs, load average {os.getloadavg()[0]:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=1_000_000)
    parser.add_argument("--topics", type=int, default=1_000)
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("NEWSBOT_BENCH_DATA", "/tmp/newsbot-bench")),
        help="where SQLite databases are kept (default: $NEWSBOT_BENCH_DATA or /tmp/newsbot-bench)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "NEWSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL URL whose server holds the benchmark's database",
    )
    parser.add_argument(
        "--pg-database",
        default=os.environ.get("NEWSBOT_BENCH_PG_DATABASE", "newsbot_bench_{stories}"),
        help="the PostgreSQL database's name ({stories} is replaced by the story count)",
    )
    parser.add_argument("--build-only", action="store_true", help="build the databases, no runs")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each class's words")
    parser.add_argument(
        "--whole-process", type=int, default=3, metavar="RUNS", help="runs of `newsbot latest`"
    )
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument(
        "--without-recent",
        action="store_true",
        help="PostgreSQL: also measure each class as if there were no recent index",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the topic classes this many times and print the medians of their p50/p99",
    )
    parser.add_argument("--no-mixed", action="store_true", help="leave out the mixed topics")
    parser.add_argument("--no-size", action="store_true", help="leave out the size per story")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    vocabulary = Vocabulary(random.Random(1))
    topics = _topics(vocabulary, args.topics)
    classes: dict[str, list[str]] = {}

    def measure(backend: str, url: str, path: Path | None) -> None:
        if not classes:
            classes.update(class_topics(vocabulary, args.stories, args.sources))
        rounds: list[dict[str, tuple[list[float], int]]] = []
        for _ in range(args.rounds):
            results = {} if args.no_mixed else {"mixed": asyncio.run(_run_topics(url, topics))}
            for name, chosen in classes.items():
                results[name] = asyncio.run(_run_topics(url, chosen, args.repeats))
            for name, chosen in classes.items():
                results[f"{name}, search only"] = asyncio.run(
                    _run_topics(url, chosen, args.repeats, search_only=True)
                )
            if args.without_recent and backend == "postgresql":
                for name, chosen in classes.items():
                    results[f"{name}, no recent index"] = asyncio.run(
                        _run_topics(url, chosen, args.repeats, recent=False)
                    )
            size = (0, {}) if args.no_size else asyncio.run(_sizes(url, path))
            _report(backend, results, size, args.stories)
            rounds.append(results)
        if len(rounds) > 1:
            print(f"  medians of {len(rounds)} rounds (load average {os.getloadavg()[0]:.1f}):")
            for name in rounds[0]:
                p50s, p99s = zip(*(_percentiles(r[name][0]) for r in rounds), strict=True)
                print(
                    f"    {name:<24} p50 {statistics.median(p50s):6.2f} ms"
                    f" ({min(p50s):.2f}–{max(p50s):.2f})  p99 {statistics.median(p99s):6.2f} ms"
                    f" ({min(p99s):.2f}–{max(p99s):.2f})"
                )
        if args.explain:
            for name, chosen in classes.items():
                print(f"  plan, {name} topic {chosen[0]!r}:")
                print("\n".join(asyncio.run(explain(url, chosen[0]))))
        if args.whole_process:
            picked = [chosen[0] for chosen in classes.values()]
            whole_process(url, args.cache, args.sources, picked, args.whole_process)

    if args.backend in ("sqlite", "both"):
        args.cache.mkdir(parents=True, exist_ok=True)
        path = args.cache / f"latest-{args.stories}.db"
        if path.exists() and _sqlite_stamp(path) != build_stamp():
            print(f"{path} was built as {_sqlite_stamp(path)}; rebuilding")
            for stale in path.parent.glob(path.name + "*"):
                stale.unlink()
        if not path.exists():
            began = time.perf_counter()
            building = path.with_suffix(".building")
            for stale in building.parent.glob(building.name + "*"):
                stale.unlink()
            _build_sqlite(building, args.stories, vocabulary, args.sources)
            building.rename(path)
            print(f"built SQLite in {time.perf_counter() - began:.0f} s", flush=True)
        if not args.build_only:
            measure("sqlite", f"sqlite:///{path}", path)
    if args.backend in ("postgresql", "both"):
        name = args.pg_database.format(stories=args.stories)
        url, ready = asyncio.run(_postgres_database(args.postgres, name))
        if not ready:
            began = time.perf_counter()
            asyncio.run(_build_postgres(url, args.stories, vocabulary, args.sources))
            print(f"built PostgreSQL in {time.perf_counter() - began:.0f} s", flush=True)
        began = time.perf_counter()
        bound = asyncio.run(_recent_index(url))
        print(
            f"PostgreSQL recent index from {bound:%Y-%m-%d} ({time.perf_counter() - began:.1f} s"
            " to build it or find it current, as `newsbot run` does each hour)"
            if bound is not None
            else "PostgreSQL: no recent index (the archive is too short for one)",
            flush=True,
        )
        if not args.build_only:
            measure("postgresql", url, None)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
