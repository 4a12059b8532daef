"""Topics: what a reader types after /subscribe or /latest, parsed once and matched everywhere.

A topic is a list of words that must all appear in a story (`peace talks`). Matching is case-,
accent- and punctuation-insensitive and stem-aware (see `news.analysis`). The same `Topic` serves
the database's full-text index (through `Topic.required`) and in-memory matching of new stories
(`Topic.matches`), so a pushed story and a /latest answer never disagree.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from news.analysis import word_alternatives, words
from news.errors import TopicError

MAX_TOPIC_LENGTH = 200
MAX_TOPIC_TERMS = 20


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: its normal form and, per word, the terms that satisfy it."""

    text: str
    required: tuple[frozenset[str], ...]

    def matches(self, terms: Set[str]) -> bool:
        """True when a story indexed under `terms` is about this topic."""
        return all(not alternatives.isdisjoint(terms) for alternatives in self.required)

    def __str__(self) -> str:
        return self.text


def parse_topic(raw: str) -> Topic:
    """Parse what a reader typed; raise `TopicError` with a reason they can act on."""
    stripped = raw.strip()
    if not stripped:
        raise TopicError("The topic is empty. Try for example: /subscribe ukraine")
    if len(stripped) > MAX_TOPIC_LENGTH:
        raise TopicError(
            f"That topic is {len(stripped)} characters long; keep it under {MAX_TOPIC_LENGTH}."
        )
    topic_words = list(dict.fromkeys(words(stripped)))
    if not topic_words:
        raise TopicError(
            "That topic has no words to search for (only symbols or emoji). "
            "Try a word such as: ukraine"
        )
    if len(topic_words) > MAX_TOPIC_TERMS:
        raise TopicError(f"That topic has {len(topic_words)} words; use at most {MAX_TOPIC_TERMS}.")
    return Topic(
        text=" ".join(topic_words),
        required=tuple(word_alternatives(word) for word in topic_words),
    )
