"""/latest's scoring by meaning over its window (`Window.score`) finds the same stories as the
straightforward computation (`TopicMeaning.matches` and `excludes` over the window's vectors).

`Window.score` takes what depends on the window alone from the window, and measures a topic's
mean and spread over each language's stories from its products with them rather than from the
languages' covariances; the stories it lists, and those exclusions leave out, must not change.
Random windows (shaped like news: the shipped sample's stories, perturbed, in their languages),
random topics with one to four alternatives, with and without an exclusion, in each language,
drawn toward the stories nearest them as if their words had found those.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy
import pytest
from numpy.typing import NDArray

from news.meaning import pack
from news.topics.meanings import (
    MIN_BACKGROUND,
    TopicMeaning,
    Window,
    is_cross_language,
    shipped_background,
    shipped_languages,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
LANGUAGES = ("en", "uk", "de", "ru", "fr", "es", None)


def _unit(rows: NDArray[numpy.floating[Any]]) -> NDArray[numpy.float32]:
    result: NDArray[numpy.float32] = (rows / numpy.linalg.norm(rows, axis=1, keepdims=True)).astype(
        numpy.float32
    )
    return result


def _stories(
    rng: numpy.random.Generator, count: int, first_id: int
) -> list[tuple[int, str, bytes]]:
    sample = shipped_background()
    languages = shipped_languages()
    picks = rng.integers(0, sample.shape[0], count)
    noise = rng.standard_normal((count, sample.shape[1])).astype(numpy.float32) / 40
    blobs = pack(_unit(sample[picks] + noise))
    return [
        (first_id + number, languages[pick], blob)
        for number, (pick, blob) in enumerate(zip(picks.tolist(), blobs, strict=True))
    ]


def _topic(rng: numpy.random.Generator, alternatives: int, excluded: int) -> TopicMeaning:
    sample = shipped_background()

    def rows(count: int) -> NDArray[numpy.float32]:
        picks = rng.integers(0, sample.shape[0], count)
        noise = rng.standard_normal((count, sample.shape[1])).astype(numpy.float32) / 22
        return _unit(sample[picks] + noise)

    return TopicMeaning(rows(alternatives), rows(excluded))


def _straightforward(
    window: Window, meaning: TopicMeaning, own: str | None, wanted: set[int]
) -> tuple[list[int], set[int]]:
    cross = numpy.array([is_cross_language(own, language) for language in window.languages])
    found = numpy.array([story_id in wanted for story_id in window.ids])
    near = meaning.matches(window.vectors, window.background, found, cross, window.languages, own)
    far = meaning.excludes(window.vectors, window.background)
    picked = [window.ids[row] for row in numpy.flatnonzero(near) if window.ids[row] not in wanted]
    return picked, {window.ids[row] for row in numpy.flatnonzero(cross & far)}


def _compare(window: Window, rng: numpy.random.Generator, topics: int) -> Sequence[int]:
    """Scores `topics` random topics both ways; the number of stories each listed."""
    listed = []
    for number in range(topics):
        meaning = _topic(rng, 1 + number % 4, number % 3 % 2)
        own = LANGUAGES[number % len(LANGUAGES)]
        # What its words found: the stories nearest its first alternative (none, for some).
        closeness = window.vectors @ meaning.alternatives[0]
        nearest = numpy.argsort(-closeness)[: (number * 7) % 50]
        wanted = {window.ids[row] for row in nearest.tolist()}
        fast = window.score(meaning, own, wanted)
        assert fast == _straightforward(window, meaning, own, wanted)
        listed.append(len(fast[0]))
    return listed


@pytest.mark.parametrize("stories", [6000, 900])
def test_window_lists_what_the_straightforward_computation_lists(stories: int) -> None:
    rng = numpy.random.default_rng(stories)
    window = Window.of(_stories(rng, stories, 1), NOW)
    listed = _compare(window, rng, 40)
    # The comparison means something: most topics list stories in other languages.
    assert sum(1 for count in listed if count) >= 30


def test_a_window_grown_since_it_was_read_lists_the_same() -> None:
    rng = numpy.random.default_rng(11)
    window = Window.of(_stories(rng, 2000, 1), NOW)
    grown = window.with_newest(_stories(rng, 150, 10_000))
    assert len(grown.ids) == 2150
    _compare(grown, rng, 30)


def test_a_window_smaller_than_a_background_lists_the_same() -> None:
    rng = numpy.random.default_rng(12)
    window = Window.of(_stories(rng, MIN_BACKGROUND // 2, 1), NOW)
    _compare(window.with_newest(_stories(rng, 20, 10_000)), rng, 20)
