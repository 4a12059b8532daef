"""`newsbot latest` right after a cold `newsbot poll --once`: what placing its backlog costs.

`poll --once` stores a first poll's stories without placing them in events (that is left to
`newsbot run`); `newsbot latest` places what no event holds yet before it lists. Over the real
feed corpus (../shared/corpus/real, 200 feeds, served on loopback), each run from a new SQLite
database:
  poll      `newsbot poll --once`, cold (whole process; this change leaves it as it was)
  first     `newsbot latest berlin film festival` after it: places the backlog, then lists
  again     the same command once more: nothing waits (what every later `latest` costs)
Whole-process wall time and peak RSS (bench.whole_process), medians of --runs (default 3).
Skipped, with the reason, without the corpus.

    python bench/bench_latest_backlog.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.whole_process import Run, clean_environment, measure, precompile

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "real"
TOPIC = ["berlin", "film", "festival"]


def serve(files: list[Path]) -> tuple[int, asyncio.AbstractEventLoop]:
    """Serve `files` at /NAME on 127.0.0.1 from a thread; the port and the server's loop."""
    bodies = {f"/{path.name}": path.read_bytes() for path in files}
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port = 0

    async def answer(request: web.Request) -> web.Response:
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/xml")

    async def start() -> None:
        nonlocal port
        app = web.Application()
        app.router.add_get("/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    started.wait()
    return port, loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"skipped: the shared real-feed corpus is not at {CORPUS}")
        return
    precompile()
    files = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "README.md")
    port, _ = serve(files)
    script = Path(sys.executable).with_name("newsbot")
    newsbot = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    results: dict[str, list[Run]] = {"poll": [], "first": [], "again": []}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        sources = work / "sources.txt"
        sources.write_text("".join(f"http://127.0.0.1:{port}/{p.name}\n" for p in files))
        for number in range(args.runs):
            env = {
                **clean_environment(),
                "DATABASE_URL": f"sqlite:///{work / f'run{number}.db'}",
                "NEWSBOT_SOURCES": str(sources),
                "NEWSBOT_ALLOW_PRIVATE_SOURCES": "1",
                "PYTHONPATH": str(ROOT),
                "XDG_CACHE_HOME": str(work / "cache"),
            }
            results["poll"].append(measure([*newsbot, "poll", "--once"], env))
            results["first"].append(measure([*newsbot, "latest", *TOPIC], env))
            results["again"].append(measure([*newsbot, "latest", *TOPIC], env))
    labels = {
        "poll": "newsbot poll --once, cold",
        "first": f"newsbot latest {' '.join(TOPIC)}, placing the backlog",
        "again": "the same, nothing waiting",
    }
    for key, runs in results.items():
        print(
            f"{labels[key]:<58} median {statistics.median(r.seconds for r in runs):6.2f} s,"
            f" peak RSS {max(r.whole_mb for r in runs):4.0f} MB ({len(runs)} runs)"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
