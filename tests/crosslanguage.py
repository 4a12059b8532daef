"""Events across languages (issue 23): the clusterer with stories' meanings on the labelled sets.

Meanings are the vectors of `news.meaning`'s encoder for each story of multi.txt and
short_en.txt, packed (`news.meaning.pack`, 512 bytes a story, in the file's order) in
tests/data/clusters/<set>.meanings, so that tests need no model: `python -m tests.crosslanguage
--write` computes them again (after a change of the encoder or of `story_meaning_text`), and
without arguments prints the figures the module docstring of `news.events.linking` quotes.

Figures are cross-language B-cubed precision and recall against the events, the distractor
pairs joined (events of one "<group>~" that share people and places), and the same on each half
of the events (split by a hash of the label), which shows what tuning on the whole set hides.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy
from numpy.typing import NDArray

from news.events.clustering import Clusterer
from news.meaning import unpack
from tests.labelled import DATA, Labelled, b_cubed, load

FIRST_IDS = {"multi": 30_001, "short_en": 20_001}


@dataclass(frozen=True)
class Figures:
    precision: float
    recall: float
    distractors: int

    def __str__(self) -> str:
        return (
            f"B-cubed precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"distractor pairs joined {self.distractors}"
        )


def meanings_path(name: str) -> Path:
    return DATA / f"{name}.meanings"


def stories_with_meanings(name: str) -> tuple[list[Labelled], dict[int, NDArray[numpy.float32]]]:
    """The stories of a set in time order, and each one's meaning by id."""
    stories = load(DATA / f"{name}.txt", FIRST_IDS[name])
    data = meanings_path(name).read_bytes()
    vectors = unpack([data[i * 512 : (i + 1) * 512] for i in range(len(stories))])
    meanings = {story.story_id: vectors[i] for i, story in enumerate(stories)}
    return sorted(stories, key=lambda s: (s.published_at, s.story_id)), meanings


def cluster_all(
    stories: Iterable[Labelled],
    meanings: dict[int, NDArray[numpy.float32]],
    clusterer: Clusterer | None = None,
) -> dict[int, int]:
    """Each story's event, the stories added in the order given, with their meanings."""
    clusterer = Clusterer() if clusterer is None else clusterer
    return {
        story.story_id: clusterer.add(
            story.story_id,
            story.title,
            story.summary,
            story.language,
            story.published_at,
            story.source,
            meaning=meanings.get(story.story_id),
        ).cluster_id
        for story in stories
    }


def figures(stories: list[Labelled], predicted: dict[int, int]) -> Figures:
    precision, recall = b_cubed({story.story_id: story.label for story in stories}, predicted)
    joined = {
        frozenset((a.label, b.label))
        for a in stories
        for b in stories
        if a.label != b.label
        and "~" in a.label
        and a.label.partition("~")[0] == b.label.partition("~")[0]
        and predicted[a.story_id] == predicted[b.story_id]
    }
    return Figures(precision, recall, len(joined))


def half(label: str) -> int:
    """Which half of the events a story's event is in (a group of look-alikes stays whole)."""
    group = label.partition("~")[0]
    return hashlib.blake2b(group.encode(), digest_size=1).digest()[0] % 2


def report(make: Callable[[], Clusterer] = Clusterer) -> str:
    stories, meanings = stories_with_meanings("multi")
    predicted = cluster_all(stories, meanings, make())
    lines = [f"multi.txt, across languages: {figures(stories, predicted)}"]
    for part in (0, 1):
        chosen = [story for story in stories if half(story.label) == part]
        alone = cluster_all(chosen, meanings, make())
        lines.append(f"  half {part} ({len(chosen)} reports): {figures(chosen, alone)}")
    short, short_meanings = stories_with_meanings("short_en")
    lines.append(f"short_en.txt: {figures(short, cluster_all(short, short_meanings, make()))}")
    return "\n".join(lines)


def write() -> None:
    from news.meaning import default_encoder, pack, story_meaning_text

    encoder = default_encoder()
    for name, first in FIRST_IDS.items():
        stories = load(DATA / f"{name}.txt", first)
        vectors = encoder.encode([story_meaning_text(s.title, s.summary) for s in stories])
        meanings_path(name).write_bytes(b"".join(pack(vectors)))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    print(report())
