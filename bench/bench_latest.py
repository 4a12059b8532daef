"""Benchmark: /latest over 1,000,000 stories on SQLite and PostgreSQL (issue 4, "Benchmark").

Builds a database of N stories (default 1,000,000) in six languages over two years: words drawn
Zipf-like (s = 1.05) from a vocabulary made of the words of the labelled evaluation set, every
country name and demonym of news/data/countries.tsv, 80 real people's names and a long tail of
made-up words; 300 sources. Then runs 1,000 topics the way /latest does: `parse_topic`,
`news.reading.latest_events(storage, topic, 5)` (stories grouped into events),
`handlers.render.latest_messages`. Topics are shaped like
readers' ones: a country or a person (half of them), one or two news words, phrases, OR,
exclusions, `source:`, Cyrillic words; common and rare alike.

The databases are built once and kept (SQLite in --cache, PostgreSQL as database
newsbot_bench_<N>); later runs reuse them. Prints p50, p99 and max latency and the database size
per story for each backend, with the targets beside them.

    python bench/bench_latest.py [--stories 1000000] [--topics 1000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers.i18n import english
from handlers.render import latest_messages
from news.errors import TopicError
from news.reading import latest_events
from news.topics import parse_topic, stem, words
from storage import SqlStorage, create_engine
from storage.database import migrate

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
LANGUAGES = {"en": 0.5, "de": 0.1, "fr": 0.1, "es": 0.1, "ru": 0.1, "uk": 0.1}
TARGETS = {"sqlite": (5.0, 25.0), "postgresql": (10.0, None)}
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


def _stories(count: int, vocabulary: Vocabulary, sources: int, seed: int = 4) -> list[tuple]:
    """Rows (id, source_id, entry_id, title, summary, link, published, seen, language, terms)."""
    rng = random.Random(seed)
    languages, weights = zip(*LANGUAGES.items(), strict=True)
    rows = []
    step = SPAN / count
    for number in range(count):
        language = rng.choices(languages, weights)[0]
        picked = vocabulary.sample(rng, language, rng.randint(25, 45))
        vocab, terms = vocabulary.words[language], vocabulary.terms[language]
        title = " ".join(vocab[i] for i in picked[:9]).capitalize()
        summary = " ".join(vocab[i] for i in picked[9:]).capitalize() + "."
        # Published in time order, give or take an hour: feeds are polled late and out of order.
        published = NOW - SPAN + step * number - timedelta(seconds=rng.randint(0, 3600))
        rows.append(
            (
                number + 1,
                number % sources + 1,
                f"e{number}",
                title,
                summary,
                f"https://s{number % sources + 1}.example/{number}",
                published,
                published + timedelta(minutes=5),
                language,
                " ".join(terms[i] for i in picked),
            )
        )
    return rows


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


def _build_sqlite(path: Path, rows: Sequence[tuple], sources: int) -> None:
    import sqlite3

    engine = create_engine(f"sqlite:///{path}")
    asyncio.run(migrate(engine))
    asyncio.run(engine.dispose())
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    when = NOW.strftime(_SQLITE_FORMAT)
    connection.executemany(
        "INSERT INTO sources (id, url, title, origin, enabled, error_count, created_at) "
        "VALUES (?, ?, ?, 'file', 1, 0, ?)",
        [(i, f"https://s{i}.example/feed", f"Source s{i}", when) for i in range(1, sources + 1)],
    )
    connection.executemany(
        "INSERT INTO stories (id, source_id, entry_id, title, summary, link, published_at, "
        "first_seen_at, language, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (*row[:6], row[6].strftime(_SQLITE_FORMAT), row[7].strftime(_SQLITE_FORMAT), *row[8:])
            for row in rows
        ),
    )
    connection.commit()
    connection.execute("INSERT INTO stories_fts(stories_fts) VALUES ('optimize')")
    connection.execute("ANALYZE")
    connection.commit()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


async def _build_postgres(url: str, rows: Sequence[tuple], sources: int) -> None:
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute("DROP INDEX IF EXISTS ix_stories_search")
        await connection.copy_records_to_table(
            "sources",
            records=[
                (i, f"https://s{i}.example/feed", f"Source s{i}", "file", True, 0, NOW)
                for i in range(1, sources + 1)
            ],
            columns=["id", "url", "title", "origin", "enabled", "error_count", "created_at"],
        )
        columns = [
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
        ]
        for start in range(0, len(rows), 100_000):
            await connection.copy_records_to_table(
                "stories", records=rows[start : start + 100_000], columns=columns
            )
        await connection.execute("SET maintenance_work_mem = '512MB'")
        await connection.execute("CREATE INDEX ix_stories_search ON stories USING GIN (search)")
        await connection.execute("SELECT setval('stories_id_seq', (SELECT max(id) FROM stories))")
        await connection.execute("VACUUM ANALYZE stories")
    finally:
        await connection.close()


async def _postgres_database(admin_url: str, name: str) -> tuple[str, bool]:
    """The URL of the benchmark database, and whether it already holds the stories."""
    admin = await asyncpg.connect(admin_url)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    if not exists:
        return url, False
    connection = await asyncpg.connect(url)
    try:
        done = await connection.fetchval(
            "SELECT count(*) > 0 FROM pg_indexes WHERE indexname = 'ix_stories_search'"
        )
    finally:
        await connection.close()
    return url, bool(done)


async def _run_topics(url: str, topics: Sequence[str], stories: int) -> tuple[list[float], int]:
    """Latency of each topic through the /latest path (ms), and how many answers were empty."""
    engine = create_engine(url, **({} if url.startswith("sqlite") else {"pool_size": 2}))
    storage = SqlStorage(engine)
    try:
        for raw in topics[:50]:  # warm the connection pool, caches and prepared statements
            await storage.latest(parse_topic(raw), limit=5)
        timings, empty = [], 0
        for raw in topics:
            started = time.perf_counter()
            topic = parse_topic(raw)
            found, _ = await latest_events(storage, topic, 5)
            latest_messages(f"Latest on {topic.text}", found, NOW, texts=english())
            timings.append((time.perf_counter() - started) * 1000)
            empty += not found
        return timings, empty
    finally:
        await storage.close()


async def _size(url: str, path: Path | None) -> int:
    if path is not None:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(await connection.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await connection.close()


def _report(backend: str, timings: list[float], empty: int, size: int, stories: int) -> None:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    target50, target99 = TARGETS[backend]
    print(f"{backend}: {len(timings)} topics over {stories:,} stories ({empty} with no answer)")
    print(f"  p50 {p50:7.2f} ms   target ≤ {target50} ms")
    print(f"  p99 {p99:7.2f} ms   " + (f"target ≤ {target99} ms" if target99 else "(no target)"))
    print(f"  max {ordered[-1]:7.2f} ms")
    print(f"  size {size / stories:7.0f} bytes per story ({size / 2**20:,.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=1_000_000)
    parser.add_argument("--topics", type=int, default=1_000)
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/newsbot-bench"))
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "NEWSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    started = time.perf_counter()
    vocabulary = Vocabulary(random.Random(1))
    topics = _topics(vocabulary, args.topics)
    rows: list[tuple] | None = None

    def generated() -> list[tuple]:
        nonlocal rows
        if rows is None:
            began = time.perf_counter()
            rows = _stories(args.stories, vocabulary, args.sources)
            print(f"generated {len(rows):,} stories in {time.perf_counter() - began:.0f} s")
        return rows

    if args.backend in ("sqlite", "both"):
        args.cache.mkdir(parents=True, exist_ok=True)
        path = args.cache / f"latest-{args.stories}.db"
        if not path.exists():
            began = time.perf_counter()
            _build_sqlite(path.with_suffix(".building"), generated(), args.sources)
            path.with_suffix(".building").rename(path)
            print(f"built SQLite in {time.perf_counter() - began:.0f} s")
        url = f"sqlite:///{path}"
        timings, empty = asyncio.run(_run_topics(url, topics, args.stories))
        _report("sqlite", timings, empty, asyncio.run(_size(url, path)), args.stories)
    if args.backend in ("postgresql", "both"):
        url, ready = asyncio.run(_postgres_database(args.postgres, f"newsbot_bench_{args.stories}"))
        if not ready:
            began = time.perf_counter()
            asyncio.run(_build_postgres(url, generated(), args.sources))
            print(f"built PostgreSQL in {time.perf_counter() - began:.0f} s")
        timings, empty = asyncio.run(_run_topics(url, topics, args.stories))
        _report("postgresql", timings, empty, asyncio.run(_size(url, None)), args.stories)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
