"""Benchmark: listing and cards over big events (issue 24, "Listing cost independent of event
size").

Builds the issue's database: 1,000 feeds' 50,000 stories on SQLite, clustered into big events
as `newsbot run` clusters a big news day across a thousand outlets: ten concurrent events on
Ukraine reported once by every outlet (1,000 reports each), sixty other events of ~650 reports
(each outlet reports about 39 of them), and 1,000 stories that stand alone (Berlin's among
them). Stories are inserted straight into `stories` (the triggers keep the full-text index and
each event's kept outlets) and clustered through the clusterer's own write,
`SqlStorage.assign_clusters`, each event's cluster named by its first report as the clusterer
names it; the clusterer's own state (`clusters`, `cluster_stories`) is not written, as nothing
here reads it. The database is built once and reused: in --cache, or NEWSBOT_BENCH_CACHE, or a
temporary folder.

Prints, beside the targets:
  whole process  `newsbot latest ukraine` from start to exit, median of --runs, and its peak RSS
                 (`bench/whole_process.py`), with a bare interpreter's start as the floor;
                 with --before CHECKOUT, the same command of another checkout (e.g. the main
                 branch before this change) on a copy of the database taken back to its schema
  in process     `news.reading.latest_events` of five events of 1,000 reports (ukraine) beside
                 five single-report events (berlin), alternated, medians of 100 (wall and
                 CPU), and their ratio; a story card (`news.reading.story_card`) of a
                 1,000-report event pushed for "ukraine", median of 100

    python bench/bench_big_events.py [--runs 5] [--cache DIR] [--before /path/to/checkout]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from bench.whole_process import ROOT, measure, newsbot_environment, precompile
from news.model import ClusterAssignment, TopicMatch
from news.reading import latest_events, story_card
from news.topics import document_terms, parse_topic
from storage import SqlStorage, open_storage
from storage.database import head_revision
from storage.tables import sources, stories

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
FEEDS = 1000
UKRAINE_EVENTS = 10
OTHER_EVENTS = 60
OTHER_REPORTS = 650
ALONE = 1000
#: Targets from issue 24 (this machine, 2 cores).
WHOLE_SECONDS, WHOLE_MB = 0.6, 100.0
RATIO = 2.0
CARD_MS = 20.0
#: The same command before the change, as the issue measured it.
ISSUE_BEFORE = "1.27 s, 175 MB"

UKRAINE = [
    "Ukraine grain corridor reopens after talks in Istanbul",
    "Ukraine and Poland agree on border crossing for trucks",
    "Ukraine power grid hit by drone strikes overnight",
    "Ukraine wins backing for reconstruction fund in Brussels",
    "Ukraine parliament passes anti-corruption court reform",
    "Ukraine prisoner exchange brings home 300 soldiers",
    "Ukraine central bank holds interest rate at 13 percent",
    "Ukraine football team qualifies for European championship",
    "Ukraine nuclear plant loses external power line again",
    "Ukraine signs gas transit deal with Slovakia and Hungary",
]
SUBJECTS = [
    "Parliament",
    "The central bank",
    "Storm",
    "The football league",
    "Wildfire",
    "Election commission",
    "Airline strike",
    "Chip maker",
    "Climate summit",
    "Film festival",
]
PREDICATES = [
    "approves new budget",
    "warns of delays",
    "talks resume",
    "reports record losses",
    "sets new date",
    "faces criticism",
]
WORDS = ["officials said", "sources say", "update", "live", "analysis", "in brief", "report"]


def _row(n: int, source_id: int, title: str, published: datetime) -> dict[str, object]:
    return {
        "source_id": source_id,
        "entry_id": f"e{n}",
        "title": title,
        "summary": f"{title}, according to a statement released on the day. "
        "Reporters on the ground described the situation as it developed.",
        "link": f"https://outlet{source_id}.bench.example/{n}",
        "published_at": published,
        "first_seen_at": published,
        "language": "en",
        "terms": (*document_terms(title, "en"), f"n{n}"),
    }


def story_rows(source_ids: list[int]) -> tuple[list[dict[str, object]], list[int]]:
    """The stories, and the event (an index; -1: standing alone) of each."""
    rng = random.Random(24)
    rows: list[dict[str, object]] = []
    event_of: list[int] = []

    def add(event: int, source_id: int, title: str, published: datetime) -> None:
        event_of.append(event)
        rows.append(_row(len(rows), source_id, title, published))

    for event, headline in enumerate(UKRAINE):
        # A big day: the Ukraine events run side by side over the last 24 hours.
        for source_id in source_ids:
            published = NOW - timedelta(hours=24) * rng.random()
            add(event, source_id, f"{headline} {rng.choice(WORDS)}", published)
    for other in range(OTHER_EVENTS):
        event = len(UKRAINE) + other
        start = NOW - timedelta(hours=48) * rng.random()
        title = f"{SUBJECTS[other % len(SUBJECTS)]} {PREDICATES[other % len(PREDICATES)]}"
        for source_id in rng.sample(source_ids, OTHER_REPORTS):
            published = start + timedelta(hours=8) * rng.random()
            add(event, source_id, f"{title} {other} {rng.choice(WORDS)}", published)
    for n in range(ALONE):
        place = "Berlin" if n % 10 == 0 else rng.choice(["Paris", "Madrid", "Lagos", "Lima"])
        title = f"{place} {rng.choice(PREDICATES)} {n}"
        add(-1, rng.choice(source_ids), title, NOW - timedelta(hours=48) * rng.random())
    return rows, event_of


async def build(url: str) -> None:
    """Insert the stories, then cluster them through the clusterer's write."""
    storage = await open_storage(url)
    try:
        async with storage.connect() as conn:
            source_ids = list(
                (await conn.execute(select(sources.c.id).order_by(sources.c.id))).scalars()
            )
        rows, event_of = story_rows(source_ids)
        async with storage.engine.begin() as conn:
            for start in range(0, len(rows), 5_000):
                await conn.execute(insert(stories), rows[start : start + 5_000])
        async with storage.connect() as conn:
            stored = {
                row.entry_id: (row.id, row.published_at)
                for row in await conn.execute(
                    select(stories.c.id, stories.c.entry_id, stories.c.published_at)
                )
            }
        members: dict[int, list[tuple[datetime, int]]] = {}
        for n, event in enumerate(event_of):
            if event >= 0:
                story_id, published = stored[f"e{n}"]
                members.setdefault(event, []).append((published, story_id))
        assignments = []
        for reports in members.values():
            reports.sort()
            assignments += [ClusterAssignment(s, reports[0][1]) for _, s in reports]
        for start in range(0, len(assignments), 5_000):
            await storage.assign_clusters(assignments[start : start + 5_000], now=NOW)
        # A story the clusterer found no event for opens a cluster of its own.
        alone = [stored[f"e{n}"][0] for n, event in enumerate(event_of) if event < 0]
        await storage.assign_clusters([ClusterAssignment(s, s) for s in alone], now=NOW)
    finally:
        await storage.close()


async def medians_ms(
    reads: list[Callable[[], Awaitable[Any]]], runs: int = 100
) -> list[tuple[float, float]]:
    """Per read, its median wall and CPU milliseconds; the reads alternate, run after run, so a
    change of the machine's load falls on all of them alike."""
    for read in reads:
        await read()  # caches warm, as in a running bot
    timings: list[list[tuple[float, float]]] = [[] for _ in reads]
    for _ in range(runs):
        for read, taken in zip(reads, timings, strict=True):
            wall, cpu = time.perf_counter(), time.process_time()
            await read()
            taken.append(((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000))
    return [
        (statistics.median(w for w, _ in taken), statistics.median(c for _, c in taken))
        for taken in timings
    ]


async def in_process(url: str) -> None:
    storage = await open_storage(url)
    try:
        await _in_process(storage)
    finally:
        await storage.close()


async def _in_process(storage: SqlStorage) -> None:
    ukraine, berlin = parse_topic("ukraine"), parse_topic("berlin")
    big, _ = await latest_events(storage, ukraine, 5)
    small, _ = await latest_events(storage, berlin, 5)
    sizes = sorted(event.more_sources + 1 for event in big)
    assert len(big) == len(small) == 5 and all(e.more_sources == 0 for e in small)
    (big_ms, big_cpu), (small_ms, small_cpu) = await medians_ms(
        [lambda: latest_events(storage, ukraine, 5), lambda: latest_events(storage, berlin, 5)]
    )
    ratio = big_ms / small_ms
    print(
        f"in process  latest_events, 5 events of {sizes[0]:,}–{sizes[-1]:,} outlets: "
        f"median {big_ms:.2f} ms (CPU {big_cpu:.2f}); 5 single-report events: {small_ms:.2f} ms "
        f"(CPU {small_cpu:.2f}); ratio {ratio:.2f}× "
        f"(target ≤ {RATIO:.0f}×: {'met' if ratio <= RATIO else 'NOT met'})"
    )
    lead = big[0].lead
    await storage.upsert_chat(1, kind="private", title=None, now=NOW)
    await storage.enqueue_deliveries([TopicMatch(1, lead.id, ("ukraine",))], now=NOW)
    story = await storage.story(lead.id)
    assert story is not None
    card = await story_card(storage, story, chat_id=1, now=NOW)
    [(card_ms, card_cpu)] = await medians_ms(
        [lambda: story_card(storage, story, chat_id=1, now=NOW)]
    )
    print(
        f"in process  story card of a {card.other_outlets + 1:,}-outlet event (key points, "
        f"{len(card.other_reports)} other outlets' headlines, {len(card.related)} related): "
        f"median {card_ms:.1f} ms (CPU {card_cpu:.1f}; target ≤ {CARD_MS:.0f} ms: "
        f"{'met' if card_ms <= CARD_MS else 'NOT met'})"
    )


# `measure` from a small parent: a spawned child's peak RSS (`ru_maxrss`) also counts the pages
# of the process it came from for a moment, and this benchmark's process is large.
_SMALL_PARENT = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from bench.whole_process import measure
run = measure(json.loads(sys.argv[2]), json.loads(sys.argv[3]))
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(run.seconds, run.whole_mb, used.ru_utime + used.ru_stime)
"""


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from spawn to exit, peak RSS (MB) and CPU seconds of one whole process (the CPU
    time tells a loaded machine's waits from the command's own work)."""
    done = subprocess.run(
        [sys.executable, "-c", _SMALL_PARENT, str(ROOT), json.dumps(argv), json.dumps(env)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, megabytes, cpu = done.stdout.split()
    return float(seconds), float(megabytes), float(cpu)


def whole(label: str, argv: list[str], env: dict[str, str], runs: int, *, target: bool) -> None:
    measured(argv, env)  # the country table's disk cache is built once, by the first command
    timed = [measured(argv, env) for _ in range(runs)]
    median = statistics.median(seconds for seconds, _, _ in timed)
    peak = max(megabytes for _, megabytes, _ in timed)
    cpu = statistics.median(cpu for _, _, cpu in timed)
    line = f"{label:<44} median {median:.2f} s (CPU {cpu:.2f} s), peak RSS {peak:.0f} MB"
    if target:
        line += (
            f" (targets ≤ {WHOLE_SECONDS} s: {'met' if median <= WHOLE_SECONDS else 'NOT met'}, "
            f"≤ {WHOLE_MB:.0f} MB: {'met' if peak <= WHOLE_MB else 'NOT met'})"
        )
    print(line, flush=True)


def before_copy(database: Path, folder: Path) -> Path:
    """A copy of `database` taken back to the schema before this change (revision 0015)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from storage.database import _MIGRATIONS

    copy = folder / "before.db"
    shutil.copyfile(database, copy)
    engine = create_engine(f"sqlite:///{copy}")
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")
    engine.dispose()
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=os.environ.get("NEWSBOT_BENCH_CACHE"))
    parser.add_argument("--before", type=Path, help="a checkout to run `newsbot latest` of too")
    args = parser.parse_args()
    precompile()
    os.chdir(ROOT)  # `python -m bot` imports from the working directory first
    with tempfile.TemporaryDirectory() as scratch:
        work = (args.cache or Path(scratch)) / f"big-events-{head_revision()}"
        work.mkdir(parents=True, exist_ok=True)
        database = work / "big-events.db"
        sources_file = work / "sources.txt"
        sources_file.write_text(
            "".join(f"https://outlet{n}.bench.example/feed\n" for n in range(FEEDS))
        )
        env = newsbot_environment(database, sources_file, XDG_CACHE_HOME=str(work / "cache"))
        newsbot = [sys.executable, "-m", "bot"]
        if not (work / "built").exists():
            started = time.perf_counter()
            database.unlink(missing_ok=True)
            # The first command creates the schema and syncs the sources, as a user's does.
            measure([*newsbot, "sources", "list"], env)
            asyncio.run(build(f"sqlite:///{database}"))
            (work / "built").touch()
            print(f"built in {time.perf_counter() - started:.0f} s: {database}")
        print(
            f"{FEEDS:,} feeds, {len(UKRAINE) * FEEDS + OTHER_EVENTS * OTHER_REPORTS + ALONE:,} "
            f"stories: {len(UKRAINE)} Ukraine events of {FEEDS:,} reports, {OTHER_EVENTS} of "
            f"{OTHER_REPORTS}, {ALONE:,} alone; {os.cpu_count()} cores, load average "
            + ", ".join(f"{load:.2f}" for load in os.getloadavg())
        )
        whole(
            "python -c pass (the floor)",
            [sys.executable, "-c", "pass"],
            env,
            args.runs,
            target=False,
        )
        whole(
            "whole process  newsbot latest ukraine",
            [*newsbot, "latest", "ukraine"],
            env,
            args.runs,
            target=True,
        )
        if args.before:
            copy = before_copy(database, Path(scratch))
            before_env = {
                **env,
                "DATABASE_URL": f"sqlite:///{copy}",
                "PYTHONPATH": str(args.before),
            }
            os.chdir(args.before)
            whole(
                f"before ({args.before.name}) newsbot latest ukraine",
                [*newsbot, "latest", "ukraine"],
                before_env,
                args.runs,
                target=False,
            )
        print(f"(issue 24 measured before the change: {ISSUE_BEFORE})")
        asyncio.run(in_process(f"sqlite:///{database}"))
        print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
