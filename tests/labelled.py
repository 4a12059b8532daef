"""The labelled clustering sets of tests/data/clusters and their B-cubed score (issues 6, 12, 23).

Read by tests/test_clustering.py, which asserts the quality targets, by
bench/bench_clustering.py, which prints the figures beside them, and by
tests/test_multilingual_sets.py (the cross-language set of issue 23, no targets yet).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from news.events.clustering import Assignment, Clusterer

DATA = Path(__file__).parent / "data" / "clusters"
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
BLOCK_GAP = timedelta(minutes=40)


@dataclass(frozen=True)
class Labelled:
    story_id: int
    label: str
    language: str
    source: str
    published_at: datetime
    title: str
    summary: str


def load(path: Path, first_id: int) -> list[Labelled]:
    """Stories of one file of the labelled sets; see the headers of en.txt and short_en.txt.

    A story's time is minutes after its block starts (blocks `BLOCK_GAP` apart) or its own
    ISO time (UTC). Every story of a "-" block is unrelated to all others.
    """
    stories: list[Labelled] = []
    block = -1
    label = language = ""
    ids = itertools.count(first_id)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("== "):
            _, language, label = line.split()
            block += 1
            continue
        # The trailing space keeps the last field of a story with no summary ("title |").
        source, when, title, summary = (part.strip() for part in f"{line} ".split(" | "))
        if "T" in when:
            published = datetime.fromisoformat(when).replace(tzinfo=UTC)
        else:
            published = START + block * BLOCK_GAP + timedelta(minutes=int(when))
        story_id = next(ids)
        own = label if label != "-" else f"{path.stem}-single-{story_id}"
        stories.append(Labelled(story_id, own, language, source, published, title, summary))
    return stories


def existing_set() -> list[Labelled]:
    """The English and German set of issue 6: invented events, told as outlets tell them."""
    return _in_order(load(DATA / "en.txt", 1) + load(DATA / "de.txt", 10_001))


def short_set() -> list[Labelled]:
    """The short texts of issue 12: real feed entries, a title and one sentence each."""
    return _in_order(load(DATA / "short_en.txt", 20_001))


def multilingual_set() -> list[Labelled]:
    """Issue 23: reports of real events in en, de, fr, es, uk, ru; see the header of multi.txt."""
    return _in_order(load(DATA / "multi.txt", 30_001))


def distractor_groups(stories: Iterable[Labelled]) -> dict[str, set[str]]:
    """The events of each group of look-alike events, named by the label's "<group>~" prefix."""
    groups: dict[str, set[str]] = {}
    for story in stories:
        group, separator, _ = story.label.partition("~")
        if separator:
            groups.setdefault(group, set()).add(story.label)
    return groups


def _in_order(stories: list[Labelled]) -> list[Labelled]:
    return sorted(stories, key=lambda story: (story.published_at, story.story_id))


def add(clusterer: Clusterer, story: Labelled) -> Assignment:
    """Cluster one labelled story."""
    return clusterer.add(
        story.story_id, story.title, story.summary, story.language, story.published_at, story.source
    )


def cluster_all(stories: Iterable[Labelled], clusterer: Clusterer | None = None) -> dict[int, int]:
    """Each story's cluster, the stories added in the order given."""
    clusterer = Clusterer() if clusterer is None else clusterer
    return {story.story_id: add(clusterer, story).cluster_id for story in stories}


def b_cubed(gold: dict[int, str], predicted: dict[int, int]) -> tuple[float, float]:
    """B-cubed precision and recall of `predicted` clusters against `gold` labels."""
    by_gold: dict[str, set[int]] = {}
    by_predicted: dict[int, set[int]] = {}
    for item, label in gold.items():
        by_gold.setdefault(label, set()).add(item)
        by_predicted.setdefault(predicted[item], set()).add(item)
    precision = recall = 0.0
    for item in gold:
        same_gold = by_gold[gold[item]]
        same_predicted = by_predicted[predicted[item]]
        shared = len(same_gold & same_predicted)
        precision += shared / len(same_predicted)
        recall += shared / len(same_gold)
    return precision / len(gold), recall / len(gold)


def score(stories: list[Labelled], clusterer: Clusterer | None = None) -> tuple[float, float]:
    """B-cubed precision and recall of the clusterer on a labelled set."""
    predicted = cluster_all(stories, clusterer)
    return b_cubed({story.story_id: story.label for story in stories}, predicted)
