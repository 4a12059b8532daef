"""Ingest throughput: 1,000 feeds × 50 entries on loopback, Newsbot against the `reader` library.

A feed server runs in its own process on 40 loopback addresses (127.0.0.1-40, so per-host limits
behave as on the web). Each contender runs in a fresh process with its own SQLite database:
  cold      first poll of every feed (entries/s)
  warm      re-poll where every answer is 304 Not Modified (feeds/s)
  unchanged re-poll without validators, same bodies (feeds/s; Newsbot skips by body hash)
  backlog   clustering of the cold poll's stories, which the scheduler runs after a tick
            (entries/s; Newsbot only, reader has no clusters)
  memory    peak RSS of the contender's process plus the peak RSS of each parse worker (read
            from /proc before they exit), added up: an upper bound
Targets (ratios to reader in the same run): cold ≥ 2×, warm ≥ 2×; peak memory ≤ 300 MB.
Run with --quick for 200 feeds, --no-clusters to poll without clustering.

With --whole-process (issue 12) each contender is a program started as a user would start it,
on its defaults, and timed from process start to exit (see `bench.whole_process`):
  newsbot   `newsbot poll --once` over the feeds as its sources file
  reader    a script that runs `make_reader`, `add_feed` for each URL, `update_feeds(workers=8)`
cold (a new database) and warm (the same database again: every feed answers 304), alternated,
--runs times each (default 5), medians. Peak RSS is that of the whole process tree, workers
included. Targets: cold ≥ 2×, warm ≥ 3× reader; peak RSS ≤ 300 MB. --feeds N for quicker runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.whole_process import process_peak_mb


def _feeds_option(argv: list[str]) -> int:
    """`--feeds N` (read at import: the feed server's process imports this module too)."""
    if "--feeds" in argv:
        return int(argv[argv.index("--feeds") + 1])
    return 200 if "--quick" in argv else 1000


FEEDS = _feeds_option(sys.argv)
ENTRIES = 50
HOSTS = 40
PORT = 18_765
# Whole processes poll at the wall clock's time, so there the stories are as recent as a live
# feed's: a first poll's backlog then falls in the clusterer's window, as it would for a user.
NOW = (
    datetime.now(UTC).replace(microsecond=0)
    if "--whole-process" in sys.argv
    else datetime(2025, 2, 14, 12, tzinfo=UTC)
)


def feed_body(number: int) -> bytes:
    items = []
    for entry in range(ENTRIES):
        published = format_datetime(NOW - timedelta(minutes=37 * entry + number), usegmt=True)
        items.append(
            f"<item><title>Story {entry} of feed {number}: parliament debates the budget"
            f"</title><link>https://site{number}.example/news/{entry}</link>"
            f'<guid isPermaLink="false">feed{number}-entry{entry}</guid>'
            f"<pubDate>{published}</pubDate><description>&lt;p&gt;The committee met on "
            f"Tuesday to discuss item {entry}. Members raised questions about spending, "
            f"schools and &lt;b&gt;transport&lt;/b&gt;; a vote is expected next week after "
            f"the hearings.&lt;/p&gt;</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Feed {number}</title><link>https://site{number}.example/</link>"
        f"<description>Feed {number}</description><language>en</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def url(number: int) -> str:
    return f"http://127.0.0.{number % HOSTS + 1}:{PORT}/feed/{number}.xml"


def serve(ready: multiprocessing.synchronize.Event) -> None:
    from aiohttp import web

    bodies = {f"/feed/{n}.xml": feed_body(n) for n in range(FEEDS)}
    tags = {
        path: '"' + hashlib.sha256(body).hexdigest()[:20] + '"' for path, body in bodies.items()
    }

    async def handle(request: web.Request) -> web.Response:
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        tag = tags[request.path]
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers={"ETag": tag})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": tag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in range(1, HOSTS + 1):
            await web.TCPSite(runner, f"127.0.0.{host}", PORT, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def run_newsbot(results: dict[str, float]) -> None:
    from sqlalchemy import update

    from news.events.clustering import Clusterer
    from news.feeds.fetch import Fetcher, FetchLimits
    from news.polling.pipeline import Poller, PollSettings
    from storage import SqlStorage, create_engine
    from storage.database import migrate
    from storage.tables import sources

    async def main(pool: ProcessPoolExecutor) -> None:
        with tempfile.TemporaryDirectory() as folder:
            engine = create_engine(f"sqlite:///{folder}/bench.db")
            await migrate(engine)
            storage = SqlStorage(engine)
            await storage.sync_sources([url(n) for n in range(FEEDS)], now=NOW)
            async with Fetcher(FetchLimits(max_in_flight=48)) as fetcher:
                poller = Poller(
                    storage,
                    fetcher,
                    PollSettings(concurrency=64),
                    parse_executor=pool,
                    clusterer=None if "--no-clusters" in sys.argv else Clusterer(),
                )
                for phase in ("cold", "warm", "unchanged"):
                    if phase == "unchanged":
                        async with engine.begin() as conn:
                            await conn.execute(
                                update(sources).values(etag=None, last_modified=None)
                            )
                    listed = await storage.list_sources()
                    started = time.perf_counter()
                    outcomes = await poller.poll_sources(listed, NOW)
                    elapsed = time.perf_counter() - started
                    statuses = {o.status for o in outcomes}
                    if phase == "cold":
                        stored = sum(o.new_stories for o in outcomes)
                        results["cold"] = stored / elapsed
                        results["cold_entries"] = stored
                        # A first poll's backlog is clustered after the tick, off its path.
                        started = time.perf_counter()
                        clustered = await poller.cluster_backlog(NOW)
                        results["backlog"] = clustered / (time.perf_counter() - started)
                        results["backlog_entries"] = clustered
                    else:
                        results[phase] = len(outcomes) / elapsed
                    results[f"{phase}_statuses"] = len(statuses)
            await storage.close()

    context = multiprocessing.get_context("spawn")
    workers = os.cpu_count() or 2
    results["workers"] = workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(abs, range(8)))  # start the workers before timing
        asyncio.run(main(pool))
        worker_pids = list(pool._processes or {})  # a bench may peek: the pids, to read VmHWM
        results["workers_memory"] = max(process_peak_mb(pid) for pid in worker_pids)
        results["workers_total"] = sum(process_peak_mb(pid) for pid in worker_pids)
    results["memory"] = peak_mb(resource.RUSAGE_SELF)


def run_reader(results: dict[str, float]) -> None:
    from reader import make_reader

    with tempfile.TemporaryDirectory() as folder:
        reader = make_reader(f"{folder}/reader.sqlite")
        for n in range(FEEDS):
            reader.add_feed(url(n))
        started = time.perf_counter()
        reader.update_feeds(workers=8, scheduled=False)
        elapsed = time.perf_counter() - started
        results["cold_entries"] = reader.get_entry_counts().total
        results["cold"] = results["cold_entries"] / elapsed
        started = time.perf_counter()
        reader.update_feeds(workers=8, scheduled=False)
        results["warm"] = FEEDS / (time.perf_counter() - started)
        reader.close()
    results["memory"] = peak_mb(resource.RUSAGE_SELF)


def contender(name: str) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        shared = manager.dict()
        process = context.Process(target=_contender_main, args=(name, shared))
        process.start()
        process.join()
        return dict(shared)


def _contender_main(name: str, shared: dict[str, float]) -> None:
    results: dict[str, float] = {}
    (run_newsbot if name == "newsbot" else run_reader)(results)
    shared.update(results)


def main() -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=serve, args=(ready,), daemon=True)
    server.start()
    while not ready.wait(0.5):
        if not server.is_alive():  # port taken, say: its traceback is above
            raise SystemExit("the feed server did not start")
    try:
        if "--whole-process" in sys.argv:
            from bench.whole_process import compare

            runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 5
            compare([url(n) for n in range(FEEDS)], entries=ENTRIES, runs=runs)
            return
        ours = contender("newsbot")
        theirs = contender("reader")
    finally:
        server.terminate()
    print(f"{FEEDS} feeds × {ENTRIES} entries on loopback, {os.cpu_count()} cores")
    print(f"{'':<24}{'newsbot':>12}{'reader':>12}{'ratio':>8}  target")
    cold_ratio = ours["cold"] / theirs["cold"]
    warm_ratio = ours["warm"] / theirs["warm"]
    print(
        f"{'cold ingest, entries/s':<24}{ours['cold']:>12.0f}{theirs['cold']:>12.0f}"
        f"{cold_ratio:>8.2f}  ≥ 2.00 {'OK' if cold_ratio >= 2 else 'MISSED'}"
    )
    print(
        f"{'warm 304 re-poll, feeds/s':<24}{ours['warm']:>12.0f}{theirs['warm']:>12.0f}"
        f"{warm_ratio:>8.2f}  ≥ 2.00 {'OK' if warm_ratio >= 2 else 'MISSED'}"
    )
    print(f"{'unchanged body, feeds/s':<24}{ours['unchanged']:>12.0f}{'-':>12}")
    if "backlog" in ours:
        print(
            f"{'backlog clustering, /s':<24}{ours['backlog']:>12.0f}{'-':>12}"
            f"          (after the cold tick: {ours['backlog_entries']:.0f} entries clustered)"
        )
    print(f"{'entries stored':<24}{ours['cold_entries']:>12.0f}{theirs['cold_entries']:>12.0f}")
    # Each process at its own peak, added up: an upper bound of the peak of the whole.
    peak = ours["memory"] + ours["workers_total"]
    print(
        f"{'peak memory, MB':<24}{peak:>12.0f}{theirs['memory']:>12.0f}"
        f"{'':>8}  ≤ 300 {'OK' if peak <= 300 else 'MISSED'} (poller {ours['memory']:.0f} MB"
        f" + {ours['workers']:.0f} parse workers ≤ {ours['workers_memory']:.0f} MB each)"
    )


if __name__ == "__main__":
    main()
