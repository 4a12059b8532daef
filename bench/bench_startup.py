"""Benchmark: terminal commands timed as whole processes, start-up included (issue 12).

Builds a SQLite database of 50,000 stories from 200 sources over 30 days (an eighth of them on
Ukraine, in English, German and French headlines), then runs each command as a user would, a
fresh `python -m bot` process from start to exit, five times, and prints the median wall time
and the peak resident memory (the child's own `ru_maxrss`, from `os.wait4`) beside the targets.
A bare interpreter's start is printed too, as the floor no command can go below, and the very
first `latest`, which builds the country table's disk cache (`news.topics.countries`), apart.

    python bench/bench_startup.py [--stories 50000] [--runs 5] [--keep DIR]

With `--keep DIR` the database is built in DIR once and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from bench.whole_process import newsbot_environment, precompile
from news.topics import document_terms
from storage import open_storage
from storage.tables import stories

NOW = datetime.now(UTC)
SOURCES = 200
#: (command, target seconds, target MB or None), from issue 12.
COMMANDS: list[tuple[tuple[str, ...], float | None, float | None]] = [
    (("latest", "ukraine"), 0.5, 150.0),
    (("sources", "list"), 0.5, None),
]
SUBJECTS = {
    "en": ["Ukraine", "Parliament", "The central bank", "Storm", "The football league"],
    "de": ["Die Ukraine", "Der Bundestag", "Die Zentralbank", "Ein Sturm", "Die Bundesliga"],
    "fr": ["L'Ukraine", "Le parlement", "La banque centrale", "Une tempête", "La ligue"],
}
PREDICATES = {
    "en": ["approves new budget", "warns of delays", "talks resume", "reports record losses"],
    "de": ["billigt neuen Haushalt", "warnt vor Verzögerungen", "meldet Rekordverluste"],
    "fr": ["approuve le budget", "met en garde contre des retards", "annonce des pertes"],
}


def story_rows(count: int, source_ids: list[int]) -> list[dict[str, object]]:
    """`count` stories, newest first, with terms as the poller's analyser would index them."""
    rng = random.Random(12)
    terms: dict[tuple[str, str], tuple[str, ...]] = {}
    rows: list[dict[str, object]] = []
    for n in range(count):
        language = rng.choice(("en", "en", "de", "fr"))
        # Subjects are weighted so that one headline in eight is on Ukraine.
        subject = SUBJECTS[language][0 if rng.random() < 0.125 else rng.randrange(1, 5)]
        title = f"{subject} {rng.choice(PREDICATES[language])}"
        key = (title, language)
        if key not in terms:
            terms[key] = tuple(document_terms(title, language))
        published = NOW - timedelta(days=30) * (n / count)
        rows.append(
            {
                "source_id": source_ids[n % len(source_ids)],
                "entry_id": f"e{n}",
                "title": f"{title} ({n})",
                "summary": "",
                "link": f"https://bench.example/{n}",
                "published_at": published,
                "first_seen_at": published,
                "language": language,
                "terms": (*terms[key], f"n{n}"),
            }
        )
    return rows


async def fill(url: str, count: int) -> None:
    """Stories by straight inserts (triggers keep the full-text index), 5,000 a transaction."""
    storage = await open_storage(url)
    try:
        source_ids = [source.id for source in await storage.list_sources()]
        rows = story_rows(count, source_ids)
        async with storage.engine.begin() as conn:
            for start in range(0, len(rows), 5_000):
                await conn.execute(insert(stories), rows[start : start + 5_000])
    finally:
        await storage.close()


# Measures one command from a small parent: a child's peak RSS on Linux also counts the memory of
# the process it was forked from, so forking from this (large) benchmark would inflate it.
_MEASURE = """
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds (spawn to exit) and peak RSS (MB) of one whole process."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds, kilobytes, code = done.stdout.split()[-3:]
    if done.returncode != 0 or code != "0":
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr}")
    return float(seconds), int(kilobytes) / 1024  # Linux reports kilobytes


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return "met" if value <= target else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the database here once and reuse it")
    args = parser.parse_args()
    precompile()
    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        built = (work / "startup.db").exists()
        sources_file = work / "sources.txt"
        sources_file.write_text(
            "".join(f"https://outlet{n}.bench.example/feed\n" for n in range(SOURCES))
        )
        url = f"sqlite:///{work / 'startup.db'}"
        env = newsbot_environment(
            work / "startup.db", sources_file, XDG_CACHE_HOME=str(work / "cache")
        )
        newsbot = [sys.executable, "-m", "bot"]
        started = time.perf_counter()
        if not built:
            # The first command creates the schema and syncs the sources, as a user's does.
            timed([*newsbot, "sources", "list"], env, work)
            asyncio.run(fill(url, args.stories))
            print(
                f"built {args.stories:,} stories from {SOURCES} sources in "
                f"{time.perf_counter() - started:.1f} s"
            )
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        floor = [timed([sys.executable, "-c", "pass"], env, work) for _ in range(args.runs)]
        print(
            f"{'python -c pass':<24} median {statistics.median(t for t, _ in floor):.2f} s, "
            f"peak RSS {max(m for _, m in floor):.0f} MB (the interpreter's floor)"
        )
        if not (work / "cache").exists():
            first, peak = timed([*newsbot, "latest", "ukraine"], env, work)
            print(
                f"{'newsbot latest ukraine':<24} {first:.2f} s, peak RSS {peak:.0f} MB the first "
                "time ever (it builds the country table's cache; not counted below)"
            )
        for command, seconds, megabytes in COMMANDS:
            runs = [timed([*newsbot, *command], env, work) for _ in range(args.runs)]
            median = statistics.median(t for t, _ in runs)
            peak = max(m for _, m in runs)
            rss_target = (
                f" (target ≤ {megabytes:.0f} MB: {verdict(peak, megabytes)})" if megabytes else ""
            )
            print(
                f"{'newsbot ' + ' '.join(command):<24} median {median:.2f} s "
                f"(target ≤ {seconds} s: {verdict(median, seconds)}), "
                f"fastest {min(t for t, _ in runs):.2f} s, peak RSS {peak:.0f} MB" + rss_target
            )


if __name__ == "__main__":
    main()
