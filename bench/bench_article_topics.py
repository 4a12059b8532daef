"""Benchmark: would topic matching gain by reading an article's lead? (issue 22)

The question: should a teaser story be matched against its article's first 600 characters as
well as its feed text? Only if the labelled topic set of issue 4 (tests/data/topic_eval, 325
stories in six languages) keeps precision ≥ 0.96 while recall rises.

What the set can tell: it holds no article pages. Its stories are a headline and, for some, a
one-sentence lead, so the one comparison it allows is a thin teaser (the headline alone)
against the headline with its lead, the direction the article's lead would take matching. It
cannot tell what 600 characters of a real page do: pages name many places and people in
passing, which the set's judges count as not relevant, and no page of the set shows how often.
The figures are printed beside the target; the decision is in the README ("Article text").

    python bench/bench_article_topics.py
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from news.topics import document_terms, parse_topic
from tests.test_topic_eval import Labelled, load

PRECISION_TARGET = 0.96


def score(text_of: Callable[[Labelled], str]) -> tuple[float, float]:
    """Precision and recall over every topic of the set, matching each story's `text_of`."""
    topics, stories = load()
    terms = [document_terms(text_of(story), story.language) for story in stories]
    found = correct = relevant = 0
    for raw in topics:
        topic = parse_topic(raw)
        hits = {i for i, story_terms in enumerate(terms) if topic.matches(story_terms)}
        wanted = {i for i, story in enumerate(stories) if raw in story.relevant}
        found, correct = found + len(hits), correct + len(hits & wanted)
        relevant += len(wanted)
    return correct / found, correct / relevant


def main() -> None:
    _, stories = load()
    leads = [len(story.summary) for story in stories if story.summary]
    print(
        f"labelled set: {len(stories)} stories, {len(leads)} with a lead "
        f"(median {statistics.median(leads):.0f} characters, longest {max(leads)}); "
        "no article pages"
    )
    print(f"{'matched text':<28} {'precision':>9} {'recall':>7}   target")
    for name, text_of in (
        ("headline (a thin teaser)", lambda s: s.title),
        ("headline + lead", lambda s: f"{s.title} {s.summary}"),
    ):
        precision, recall = score(text_of)
        print(
            f"{name:<28} {precision:>9.3f} {recall:>7.3f}   precision ≥ {PRECISION_TARGET}, "
            "recall rising"
        )
    print("600 characters of an article page: not measurable on this set (no pages)")


if __name__ == "__main__":
    main()
