"""The cross-language sets of issue 23, and today's figures on them.

Events: tests/data/clusters/multi.txt, reports of real events in en, de, fr, es, uk, ru (loaded
by `tests.labelled.multilingual_set`). Topics: tests/data/topic_eval/multi_topics.tsv, judged
against the stories of multi_stories.tsv; the header of the latter gives the judging rules.
tests/test_multilingual_sets.py checks the sets' integrity; `python -m tests.multilingual`
prints what the clusterer and the topic matcher achieve on them today: the baselines a
cross-language matcher is measured against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from news.topics import document_terms, parse_topic
from tests.labelled import Labelled, b_cubed, cluster_all, multilingual_set

TOPIC_EVAL = Path(__file__).parent / "data" / "topic_eval"
TOPICS = TOPIC_EVAL / "multi_topics.tsv"
STORIES = TOPIC_EVAL / "multi_stories.tsv"
UNSURE = "?"


@dataclass(frozen=True)
class JudgedTopic:
    """A topic as a reader of `language` types it."""

    language: str
    text: str


@dataclass(frozen=True)
class JudgedStory:
    """A story and the topics judged relevant to it; topics in `unsure` are not scored."""

    number: int
    language: str
    relevant: frozenset[str]
    unsure: frozenset[str]
    text: str


@dataclass(frozen=True)
class Tally:
    """Relevant pairs, pairs found and pairs found that are relevant."""

    relevant: int = 0
    found: int = 0
    correct: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.relevant + other.relevant, self.found + other.found, self.correct + other.correct
        )

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.relevant if self.relevant else 1.0


def judged_topics() -> list[JudgedTopic]:
    rows = (line.split("\t") for line in _lines(TOPICS))
    return [JudgedTopic(language, text) for language, text in rows]


def judged_stories() -> list[JudgedStory]:
    stories = []
    for number, line in enumerate(_lines(STORIES)):
        language, judged, text = line.split("\t")
        marks = [mark for mark in judged.split(",") if mark]
        unsure = frozenset(mark.removeprefix(UNSURE) for mark in marks if mark.startswith(UNSURE))
        relevant = frozenset(mark for mark in marks if not mark.startswith(UNSURE))
        stories.append(JudgedStory(number, language, relevant, unsure, text))
    return stories


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def topic_tallies(
    topics: Iterable[JudgedTopic], stories: list[JudgedStory]
) -> dict[tuple[str, str], Tally]:
    """Today's matching (`parse_topic`, `Topic.matches` on the story's terms and language),
    tallied by the topic's language and whether the story is in it ("same") or not ("cross")."""
    terms = [document_terms(story.text, story.language) for story in stories]
    tallies: dict[tuple[str, str], Tally] = {}
    for topic in topics:
        parsed = parse_topic(topic.text)
        for story, story_terms in zip(stories, terms, strict=True):
            if topic.text in story.unsure:
                continue
            relevant = topic.text in story.relevant
            found = parsed.matches(story_terms, language=story.language)
            key = (topic.language, "same" if story.language == topic.language else "cross")
            tallies[key] = tallies.get(key, Tally()) + Tally(
                int(relevant), int(found), int(relevant and found)
            )
    return tallies


def cluster_figures(stories: list[Labelled]) -> tuple[float, float, float, float, int]:
    """Today's clusterer on the event set: B-cubed precision and recall against the events
    (across languages), the same within each language, and the distractor pairs joined."""
    predicted = cluster_all(stories)
    across = b_cubed({story.story_id: story.label for story in stories}, predicted)
    within = b_cubed(
        {story.story_id: f"{story.label}/{story.language}" for story in stories}, predicted
    )
    joined = {
        frozenset((a.label, b.label))
        for a in stories
        for b in stories
        if a.label != b.label
        and a.label.partition("~")[0] == b.label.partition("~")[0]
        and "~" in a.label
        and predicted[a.story_id] == predicted[b.story_id]
    }
    return (*across, *within, len(joined))


def report() -> str:
    precision, recall, within_precision, within_recall, joined = cluster_figures(multilingual_set())
    lines = [
        f"events across languages: B-cubed precision {precision:.3f}, recall {recall:.3f}",
        f"events within a language: B-cubed precision {within_precision:.3f}, "
        f"recall {within_recall:.3f}",
        f"distractor pairs joined: {joined}",
        "",
        f"{'topics in':<10} {'stories':<8} {'relevant':>8} {'found':>6} {'precision':>9} "
        f"{'recall':>7}",
    ]
    tallies = topic_tallies(judged_topics(), judged_stories())
    for key in sorted(tallies):
        tally = tallies[key]
        lines.append(
            f"{key[0]:<10} {key[1]:<8} {tally.relevant:>8} {tally.found:>6} "
            f"{tally.precision:>9.2f} {tally.recall:>7.2f}"
        )
    for scope in ("same", "cross"):
        tally = sum((t for (_, s), t in tallies.items() if s == scope), Tally())
        lines.append(
            f"{'all':<10} {scope:<8} {tally.relevant:>8} {tally.found:>6} "
            f"{tally.precision:>9.3f} {tally.recall:>7.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
