"""Benchmark: matching new stories against every subscription (issue 5, "Matching at scale").

10,000 stories are matched against
  (a) 100,000 subscriptions over 20,000 distinct topics drawn Zipf-like (people share topics),
  (b) 100,000 distinct topics,
through `news.topics.percolator.Percolator` on one core, including the fan-out to chats. Vocabulary
and stories are synthetic but shaped like news: Zipf-distributed words (s = 1.1) over 40,000 word
forms, 45 words a story; topics are 1–3 of the less common words, some as phrases, some with OR
or an exclusion. Prints stories/s and the percolator's memory beside the targets.

    python bench/bench_percolator.py [--stories 10000]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from news.topics import Topic, document_terms, parse_topic
from news.topics.percolator import Percolator

VOCABULARY = 40_000
WORDS_PER_STORY = 45
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def make_vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    # Shuffled from sorted order, so the data do not depend on string hashing (PYTHONHASHSEED)
    # and every run of the benchmark matches the same stories against the same topics.
    return sorted(sorted(words), key=lambda w: rng.random())


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def make_stories(rng: random.Random, vocabulary: list[str], count: int) -> list[list[str]]:
    cumulative = list(itertools.accumulate(zipf_weights(len(vocabulary), 1.1)))
    stories = []
    for _ in range(count):
        text = " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=WORDS_PER_STORY))
        stories.append(list(document_terms(text, "en")))
    return stories


def make_topic(rng: random.Random, names: list[str], cumulative: list[float]) -> str:
    picks = rng.choices(names, cum_weights=cumulative, k=rng.randint(1, 3))
    shape = rng.random()
    if shape < 0.1 and len(picks) >= 2:
        return '"' + " ".join(picks) + '"'
    if shape < 0.15 and len(picks) >= 2:
        return f"{picks[0]} OR {picks[1]}"
    if shape < 0.2:
        return " ".join(picks) + " -" + rng.choice(names[:2000])
    return " ".join(picks)


def distinct_topics(rng: random.Random, vocabulary: list[str], count: int) -> list[Topic]:
    # Topics name things: skip the 200 most common words, prefer the head of the rest.
    names = vocabulary[200:]
    cumulative = list(itertools.accumulate(zipf_weights(len(names), 0.9)))
    topics: dict[str, Topic] = {}
    while len(topics) < count:
        topic = parse_topic(make_topic(rng, names, cumulative))
        topics[topic.text] = topic
    return list(topics.values())


def build(
    subscriptions: list[tuple[int, Topic]], sample: list[list[str]]
) -> tuple[Percolator, int]:
    gc.collect()
    tracemalloc.start()
    percolator = Percolator()
    percolator.observe(sample)
    for chat, topic in subscriptions:
        percolator.add(chat, topic)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return percolator, size


def run(percolator: Percolator, stories: list[list[str]]) -> tuple[float, int]:
    started = time.perf_counter()
    pushes = 0
    for terms in stories:
        pushes += len(percolator.matching_chats(terms))
    return len(stories) / (time.perf_counter() - started), pushes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(5)
    vocabulary = make_vocabulary(rng)
    stories = make_stories(rng, vocabulary, args.stories)
    sample = stories[:2000]

    started = time.perf_counter()
    shared = distinct_topics(rng, vocabulary, 20_000)
    share_weights = list(itertools.accumulate(zipf_weights(len(shared), 1.0)))
    picks = rng.choices(shared, cum_weights=share_weights, k=100_000)
    case_a = list(enumerate(picks))
    case_b = list(enumerate(distinct_topics(rng, vocabulary, 100_000)))
    print(f"(parsed 120,000 topics in {time.perf_counter() - started:.0f} s)")

    for label, subscriptions, target in (
        ("(a) 100,000 subscriptions, 20,000 distinct topics", case_a, 5_000),
        ("(b) 100,000 distinct topics", case_b, 2_000),
    ):
        percolator, memory = build(subscriptions, sample)
        results = [run(percolator, stories) for _ in range(args.runs)]
        rate = statistics.median(rate for rate, _ in results)
        pushes = results[0][1]
        print(f"{label}: {len(percolator):,} topics indexed")
        print(
            f"  matching: {rate:,.0f} stories/s on one core (median of {args.runs}; "
            f"target ≥ {target:,}) {'OK' if rate >= target else 'MISSED'}"
        )
        print(
            f"  percolator memory: {memory / 2**20:.0f} MB (target ≤ 200 MB) "
            f"{'OK' if memory <= 200 * 2**20 else 'MISSED'}"
        )
        print(f"  pushes owed: {pushes:,} (chat, story) pairs for {len(stories):,} stories")


if __name__ == "__main__":
    main()
