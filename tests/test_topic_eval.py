"""Topic quality, measured: precision and recall on a labelled set of stories in six languages.

The set and how it was judged: tests/data/topic_eval/README.md. Every topic goes through the
real path: `parse_topic`, then the SQLite full-text search behind /latest, and the in-memory
matcher behind pushes; both must find the same stories. Run this file with `-s` (or
`python -m tests.test_topic_eval`) to see the table.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from news.model import StoryDraft
from news.topics import document_terms, parse_topic
from storage import SqlStorage, create_engine
from storage.database import migrate

EVAL = Path(__file__).resolve().parent / "data" / "topic_eval"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.90


@dataclass(frozen=True)
class Labelled:
    language: str
    relevant: frozenset[str]
    title: str
    summary: str


@dataclass(frozen=True)
class Score:
    topic: str
    relevant: int
    found: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.relevant if self.relevant else 1.0


def load() -> tuple[list[str], list[Labelled]]:
    topics = [line for line in (EVAL / "topics.txt").read_text("utf-8").splitlines() if line]
    stories = []
    for line in (EVAL / "stories.tsv").read_text("utf-8").splitlines():
        language, labels, text = line.split("\t")
        title, _, summary = text.partition(". ")
        relevant = frozenset(label for label in labels.split(",") if label)
        assert relevant <= set(topics), relevant - set(topics)
        stories.append(Labelled(language, relevant, title, summary))
    return topics, stories


async def evaluate(database: Path) -> list[Score]:
    """Score every topic, checking that search and push matching agree on every story."""
    topics, labelled = load()
    engine = create_engine(f"sqlite:///{database}")
    await migrate(engine)
    storage = SqlStorage(engine)
    try:
        source = await storage.add_source("https://wire.example/feed", now=NOW)
        drafts = [
            StoryDraft(
                source_id=source.id,
                entry_id=str(number),
                title=story.title,
                summary=story.summary,
                link=f"https://wire.example/{number}",
                published_at=NOW - timedelta(minutes=number),
                language=story.language,
                terms=document_terms(f"{story.title} {story.summary}", story.language),
            )
            for number, story in enumerate(labelled)
        ]
        stored = await storage.store_stories(drafts, now=NOW)
        by_id = {story.id: labelled[int(story.link.rsplit("/", 1)[1])] for story in stored}
        assert len(by_id) == len(labelled)
        scores = []
        for raw in topics:
            topic = parse_topic(raw)
            searched = {story.id for story in await storage.latest(topic, limit=len(labelled))}
            pushed = {story.id for story in stored if topic.matches(story.terms)}
            assert searched == pushed, (raw, searched ^ pushed)
            relevant = {story_id for story_id, story in by_id.items() if raw in story.relevant}
            scores.append(Score(raw, len(relevant), len(searched), len(searched & relevant)))
        return scores
    finally:
        await storage.close()


def report(scores: list[Score]) -> str:
    lines = [f"{'topic':<22} {'relevant':>8} {'found':>6} {'precision':>9} {'recall':>7}"]
    for s in scores:
        lines.append(
            f"{s.topic:<22} {s.relevant:>8} {s.found:>6} {s.precision:>9.2f} {s.recall:>7.2f}"
        )
    total = overall(scores)
    lines.append(
        f"{'overall':<22} {total.relevant:>8} {total.found:>6} "
        f"{total.precision:>9.3f} {total.recall:>7.3f}"
    )
    return "\n".join(lines)


def overall(scores: list[Score]) -> Score:
    return Score(
        "overall",
        sum(s.relevant for s in scores),
        sum(s.found for s in scores),
        sum(s.correct for s in scores),
    )


async def test_topics_find_what_readers_mean(tmp_path: Path) -> None:
    topics, labelled = load()
    assert len(labelled) >= 300 and len(topics) >= 15
    assert len({story.language for story in labelled}) == 6
    scores = await evaluate(tmp_path / "eval.db")
    print("\n" + report(scores))
    total = overall(scores)
    assert total.precision >= PRECISION_FLOOR, report(scores)
    assert total.recall >= RECALL_FLOOR, report(scores)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(report(asyncio.run(evaluate(Path(folder) / "eval.db"))))
