"""Whole-process ingest: `newsbot poll --once` against a `reader` script, each its own program.

Used by `bench/bench_ingest.py --whole-process`, which serves the feeds. Each run starts a
program as a user would, on its defaults, and times it from process start to exit:
  newsbot   `newsbot poll --once` (the console script of this environment, or `python -m bot`),
            its sources file listing the feeds; `NEWSBOT_ALLOW_PRIVATE_SOURCES=1` is the one
            setting given, because the feeds are on loopback addresses
  reader    READER_SCRIPT: `make_reader`, `add_feed` for each URL, `update_feeds(workers=8)`;
            with `scheduled=False`, because reader's default (`scheduled=True`) would skip every
            feed in the warm run as not due yet, and so never ask the server at all
Cold runs start from a new database, warm runs reuse the one their cold run left (every feed
answers 304). The order alternates newsbot/reader, and which goes first flips every run.

Peak RSS of the whole process tree: a sampler reads /proc every 20 ms, follows
`/proc/PID/task/PID/children` to every descendant (newsbot's parse workers), and keeps
  whole   the largest sum of VmRSS over the process and its live descendants at one sample
          (what the machine had to hold at once; the figure checked against the target)
  bound   the sum of each process's own VmHWM peak, whenever it came (an upper bound)
The main process's own peak is its `ru_maxrss` from `os.wait4`, exact. The sampler is this
process's thread; children are started with posix_spawn, so no parent's pages count as theirs.

Newsbot runs from this checkout, whose modules are compiled to bytecode first (`precompile`),
as `pip install` does for an installed package and for reader: an environment that sets
PYTHONDONTWRITEBYTECODE (a CI runner's, a container's) would otherwise make every run compile
Newsbot's sources again, which no installed copy does.
"""

from __future__ import annotations

import compileall
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SECONDS = 0.02

READER_SCRIPT = """
import sys
from reader import make_reader

reader = make_reader(sys.argv[1])
for url in open(sys.argv[2]).read().split():
    reader.add_feed(url, exist_ok=True)
reader.update_feeds(workers=8, scheduled=False)
reader.close()
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    whole_mb: float  # sampled: the largest sum of the tree's RSS at one moment
    bound_mb: float  # each process's own peak, added up
    processes: int  # how many processes the tree had in all
    cpu_seconds: float = 0.0  # user + system time of the main process (not its children)


def _status_kb(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _descendants(pid: int) -> list[int]:
    found = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            pending.append(child)
    return found


def measure(
    argv: list[str],
    env: dict[str, str],
    *,
    expect: int = 0,
    stdout: str = os.devnull,
    stderr: str = os.devnull,
) -> Run:
    """Run `argv` to its end: wall seconds from spawn to exit and the tree's peak RSS.

    Its exit code must be `expect`; its output goes to the files `stdout` and `stderr`."""
    started = time.perf_counter()
    pid = os.posix_spawn(
        argv[0],
        argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            (os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        ],
    )
    peaks: dict[int, int] = {}
    whole = 0
    finished = threading.Event()

    def sample() -> None:
        nonlocal whole
        while not finished.is_set():
            total = 0
            for child in _descendants(pid):
                total += _status_kb(child, "VmRSS:")
                peaks[child] = max(peaks.get(child, 0), _status_kb(child, "VmHWM:"))
            total += _status_kb(pid, "VmRSS:")
            whole = max(whole, total)
            finished.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    finished.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != expect:
        raise SystemExit(f"{' '.join(argv)} exited with {os.waitstatus_to_exitcode(status)}")
    own = usage.ru_maxrss  # kilobytes on Linux
    return Run(
        seconds,
        max(whole, own) / 1024,
        (own + sum(peaks.values())) / 1024,
        1 + len(peaks),
        usage.ru_utime + usage.ru_stime,
    )


def process_peak_mb(pid: int) -> float:
    """A live process's peak RSS since it exec'd (VmHWM). `ru_maxrss` of a spawned child would
    also count the parent's pages it held for a moment between fork and exec."""
    return _status_kb(pid, "VmHWM:") / 1024


def precompile() -> None:
    """Bytecode for Newsbot's packages in this checkout, as an installed copy has it."""
    for package in ("bot", "handlers", "news", "storage"):
        compileall.compile_dir(ROOT / package, quiet=1)


def clean_environment() -> dict[str, str]:
    """This process's environment without its TELEGRAM_*, NEWSBOT_* and DATABASE_URL variables:
    a benchmark's program reads only the settings the benchmark gives it."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "NEWSBOT_", "DATABASE_URL"))
    }


def newsbot_environment(database: Path, sources: Path, **settings: str) -> dict[str, str]:
    """The environment of a `newsbot` run: `clean_environment()`, the SQLite `database`, the
    `sources` file and this checkout on PYTHONPATH, then `settings`."""
    return {
        **clean_environment(),
        "DATABASE_URL": f"sqlite:///{database}",
        "NEWSBOT_SOURCES": str(sources),
        "PYTHONPATH": str(ROOT),
        **settings,
    }


def newsbot_argv() -> list[str]:
    script = Path(sys.executable).with_name("newsbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def compare(urls: list[str], *, entries: int, runs: int) -> None:
    """Alternate cold and warm runs of both programs `runs` times; print medians and targets."""
    precompile()
    base_env = clean_environment()
    results: dict[tuple[str, str], list[Run]] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        # Started in an empty folder: no `.env` of a developer's is read.
        os.chdir(work)
        sources = work / "sources.txt"
        sources.write_text("".join(f"{url}\n" for url in urls))
        script = work / "reader_poll.py"
        script.write_text(READER_SCRIPT)
        print(
            f"{len(urls)} feeds × {entries} entries on loopback, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} at start; {runs} runs each, medians"
        )
        for number in range(runs):
            order = ("newsbot", "reader") if number % 2 == 0 else ("reader", "newsbot")
            databases = {name: work / f"{name}{number}.db" for name in order}
            for phase in ("cold", "warm"):
                for name in order:
                    if name == "newsbot":
                        env = newsbot_environment(
                            databases[name], sources, NEWSBOT_ALLOW_PRIVATE_SOURCES="1"
                        )
                        argv = [*newsbot_argv(), "poll", "--once"]
                    else:
                        env = base_env
                        argv = [sys.executable, str(script), str(databases[name]), str(sources)]
                    run = measure(argv, env)
                    results.setdefault((name, phase), []).append(run)
                    print(
                        f"  run {number + 1} {phase:<4} {name:<8} {run.seconds:6.2f} s, "
                        f"peak RSS {run.whole_mb:4.0f} MB ({run.processes} processes)",
                        flush=True,
                    )
            for database in databases.values():
                database.unlink(missing_ok=True)
    _report(results)


def _report(results: dict[tuple[str, str], list[Run]]) -> None:
    def median(name: str, phase: str) -> float:
        return statistics.median(run.seconds for run in results[name, phase])

    print(f"{'whole process, median':<28}{'newsbot':>10}{'reader':>10}{'ratio':>8}  target")
    for phase, target in (("cold", 2.0), ("warm", 3.0)):
        ours, theirs = median("newsbot", phase), median("reader", phase)
        ratio = theirs / ours
        label = f"{phase} poll{' (all 304)' if phase == 'warm' else ''}, s"
        print(
            f"{label:<28}{ours:>10.2f}{theirs:>10.2f}{ratio:>7.2f}×  ≥ {target:.0f}× "
            f"{'met' if ratio >= target else 'NOT met'}"
        )
    for phase in ("cold", "warm"):
        ours = max(run.whole_mb for run in results["newsbot", phase])
        bound = max(run.bound_mb for run in results["newsbot", phase])
        theirs = max(run.whole_mb for run in results["reader", phase])
        print(
            f"{'peak RSS ' + phase + ', MB':<28}{ours:>10.0f}{theirs:>10.0f}{'':>8}  ≤ 300 "
            f"{'met' if ours <= 300 else 'NOT met'} (newsbot's processes each at its own "
            f"peak, added up: ≤ {bound:.0f} MB)"
        )
