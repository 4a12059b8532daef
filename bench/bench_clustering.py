"""Benchmark: the cost of clustering one new story with 100,000 stories in the window (issue 6).

A synthetic stream shaped like news: 40,000 word forms drawn Zipf-like (s = 1.1) for the common
words, and for each event 8 terms of its own from the rarer part of the vocabulary, which its
reports use in title and summary (a title of 10 words, a summary of 35). Events are reported by
1–6 outlets (most by one), 5% of stories are wire copies under a new headline. Stories arrive
evenly over 48 hours, so the window holds them all; the timed stories come after them, so the
oldest expire as in steady state. Each `Clusterer.add` is timed, analyser included; memory is the
growth of the process's resident set while the window fills (tracemalloc with `--tracemalloc`,
which is slower). Targets: p50 ≤ 2 ms and p99 ≤ 10 ms per story, memory ≤ 300 MB.

Quality comes first, untimed: B-cubed precision and recall on the labelled sets of
tests/data/clusters (the issue 6 set and the short texts of issue 12), beside their targets;
tests/test_clustering.py asserts the same targets.

    python bench/bench_clustering.py [--stories 100000] [--timed 3000] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from news.events.clustering import Clusterer
from news.policy import CLUSTER_WINDOW as WINDOW
from tests.labelled import existing_set, score, short_set

VOCABULARY = 40_000
TITLE_WORDS = 10
SUMMARY_WORDS = 35
EVENT_TERMS = 8
COPY_SHARE = 0.05
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
SOURCES = [f"outlet{i}" for i in range(300)]


def make_vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    ordered = sorted(words)  # a set's order changes with PYTHONHASHSEED
    rng.shuffle(ordered)
    return ordered


def make_stream(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(title, summary, source) of `count` stories, reports of one event close together."""
    vocabulary = make_vocabulary(rng)
    cumulative = list(itertools.accumulate(1.0 / rank**1.1 for rank in range(1, VOCABULARY + 1)))
    rare = vocabulary[2_000:]

    def common(k: int) -> list[str]:
        return rng.choices(vocabulary, cum_weights=cumulative, k=k)

    def text(event: list[str], length: int, specific: int) -> str:
        words = common(length - specific) + rng.sample(event, specific)
        rng.shuffle(words)
        return " ".join(words)

    stream: list[tuple[str, str, str]] = []
    pending: list[tuple[list[str], int]] = []  # events with reports still to come
    while len(stream) < count:
        if not pending or rng.random() < 0.4:
            reports = 1 if rng.random() < 0.6 else rng.randint(2, 6)
            pending.append((rng.sample(rare, EVENT_TERMS), reports))
        slot = rng.randrange(len(pending))
        event, left = pending[slot]
        summary = text(event, SUMMARY_WORDS, rng.randint(3, 5))
        if stream and rng.random() < COPY_SHARE:
            summary = stream[-1][1]
        stream.append((text(event, TITLE_WORDS, 4), summary, rng.choice(SOURCES)))
        if left > 1:
            pending[slot] = (event, left - 1)
        else:
            pending.pop(slot)
    return stream


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def print_quality() -> None:
    """B-cubed figures on the labelled sets, beside the targets of issues 6 and 12."""
    for name, stories, target in (
        ("issue 6 set", existing_set(), (0.90, 0.80)),
        ("short texts", short_set(), (0.95, 0.80)),
    ):
        precision, recall = score(stories)
        print(
            f"{name} ({len(stories)} stories): B-cubed precision {precision:.3f} "
            f"(target ≥ {target[0]:.2f}), recall {recall:.3f} (target ≥ {target[1]:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=100_000, help="stories in the window")
    parser.add_argument("--timed", type=int, default=3_000, help="stories timed after that")
    parser.add_argument("--tracemalloc", action="store_true", help="measure memory exactly")
    args = parser.parse_args()
    print_quality()

    rng = random.Random(6)
    stream = make_stream(rng, args.stories + args.timed)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    step = WINDOW / args.stories
    gc.collect()
    before = rss_bytes()
    if args.tracemalloc:
        tracemalloc.start()
    clusterer = Clusterer(WINDOW)
    began = time.perf_counter()
    for story_id, (title, summary, source) in enumerate(stream[: args.stories]):
        clusterer.add(story_id, title, summary, "en", start + story_id * step, source)
    filled = time.perf_counter() - began
    if args.tracemalloc:
        memory, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    else:
        gc.collect()
        memory = rss_bytes() - before

    latencies = []
    for story_id in range(args.stories, args.stories + args.timed):
        title, summary, source = stream[story_id]
        published = start + story_id * step
        began = time.perf_counter_ns()
        clusterer.add(story_id, title, summary, "en", published, source)
        latencies.append((time.perf_counter_ns() - began) / 1e6)

    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    clusters = len(clusterer.clusters())
    print(
        f"window: {len(clusterer):,} stories, {clusters:,} open clusters; filled in {filled:.0f} s"
    )
    print(f"per story  p50 {p50:6.2f} ms   (target ≤ 2 ms)")
    print(f"per story  p99 {p99:6.2f} ms   (target ≤ 10 ms)")
    how = "tracemalloc" if args.tracemalloc else "RSS growth"
    print(f"memory     {memory / 2**20:6.0f} MB   (target ≤ 300 MB, {how})")


if __name__ == "__main__":
    main()
