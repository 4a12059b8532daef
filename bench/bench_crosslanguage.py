"""Benchmark: the cost of linking a new story to the events of other languages (issue 23).

The cross-language step of `Clusterer.add` for a story with a meaning (`news.events.linking`):
projecting its meaning, reading its keys (names, numbers), finding the best event of another
language among those of the last 24 hours, and counting the story in its event. A synthetic
stream like bench_clustering's: `--stories` (100,000) stories evenly over the 48-hour window, in
the six languages, reports of one event (1–6 of them, most events one) close together; a meaning
is the event's random direction plus noise (cosine about 0.6 between reports of one event), and
each event has two names of its own from 20,000 and a number. The linker fills as a running bot
fills it; each of the last `--timed` (3,000) stories' step is timed. Target: median ≤ 10 ms a
story on one core (issue 23). Memory: the linker's arrays, beside the 250 MB of a restart over
100,000 stories (bench_cluster_start), which they are part of.

Quality first, untimed: `python -m tests.crosslanguage`'s figures on the labelled sets.

    python bench/bench_crosslanguage.py [--stories 100000] [--timed 3000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy

from news.events.linking import EventLinker, meaning_keys, project
from news.policy import CLUSTER_WINDOW as WINDOW
from tests.crosslanguage import report

LANGUAGES = ("en", "de", "fr", "es", "uk", "ru")
DIMENSIONS = 512
NAMES = 20_000
TARGET_MS = 10.0
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--timed", type=int, default=3_000)
    args = parser.parse_args()

    print(report())
    print()
    rng = random.Random(23)
    generator = numpy.random.default_rng(23)
    names = ["".join(rng.choice(SYLLABLES) for _ in range(3)).title() for _ in range(NAMES)]
    start = datetime(2026, 3, 2, tzinfo=UTC)
    step = WINDOW / args.stories
    linker = EventLinker()
    events: dict[int, int] = {}  # synthetic event → the linker's event id
    directions: dict[int, numpy.ndarray] = {}
    texts: dict[int, str] = {}
    event = 0
    left = 0
    timings: list[float] = []
    cpu: list[float] = []  # this thread's CPU time: what one core spends, whatever the load
    linked = 0
    for number in range(args.stories + args.timed):
        if left == 0:
            event += 1
            left = rng.choice((1, 1, 1, 1, 2, 2, 3, 4, 6))
            directions[event] = generator.standard_normal(DIMENSIONS).astype(numpy.float32)
            texts[event] = f"{rng.choice(names)} and {rng.choice(names)} said {rng.randint(2, 999)}"
        left -= 1
        noise = generator.standard_normal(DIMENSIONS).astype(numpy.float32)
        meaning = directions[event] + noise
        meaning /= numpy.linalg.norm(meaning)
        language = rng.choice(LANGUAGES)
        at = start + step * number
        title, summary = texts[event], "a report in words of its own"
        began, began_cpu = time.perf_counter(), time.thread_time()
        # The step as `Clusterer.add` takes it for a story that opens a cluster.
        projected = project(meaning)
        keys = meaning_keys(title, summary)
        found = linker.link(projected, keys, language, at)
        event_id = found if found is not None else number + 1
        linker.add(event_id, at, projected, keys, language)
        linker.forget_before(at)
        elapsed = time.perf_counter() - began
        elapsed_cpu = time.thread_time() - began_cpu
        if number >= args.stories:
            timings.append(elapsed * 1000)
            cpu.append(elapsed_cpu * 1000)
            linked += found is not None and events.get(event) == found
        events.setdefault(event, event_id)
        if number >= args.stories - 10_000:  # the last events are all that link from here on
            continue
        directions.pop(event - 2_000, None)
        texts.pop(event - 2_000, None)

    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99)]
    held = sum(
        getattr(linker, name).nbytes
        for name in ("_ids", "_started", "_languages", "_vectors", "_scales", "_keys", "_live")
    )
    print(f"{args.stories:,} stories in the window, {len(linker):,} events held (24 h)")
    print(f"load average {os.getloadavg()[0]:.2f}; {linked:,} of {args.timed:,} timed joined")
    cpu.sort()
    print(
        f"cross-language step per story, CPU   p50 {statistics.median(cpu):6.3f} ms   "
        f"(target ≤ {TARGET_MS:.0f} ms on one core)"
    )
    print(f"cross-language step per story, CPU   p99 {cpu[int(len(cpu) * 0.99)]:6.3f} ms")
    print(f"cross-language step per story, wall  p50 {p50:6.3f} ms, p99 {p99:6.3f} ms")
    print(f"linker arrays {held / 2**20:6.1f} MB ({held / max(len(linker), 1):.0f} bytes an event)")


if __name__ == "__main__":
    main()
