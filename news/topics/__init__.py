"""Topics: what a reader types after /subscribe or /latest, and how text is matched to it.

Exported here: `Topic` and `parse_topic` (`query`), the one text analyser stories and topics share
(`analysis`) and countries' other names (`countries`). `news.polling.pipeline` matches new
stories against every subscription at once with `news.topics.percolator`, imported by its path.
"""

from __future__ import annotations

from news.topics.analysis import Phrase, base_language, document_terms, stem, words
from news.topics.countries import countries_named
from news.topics.query import MAX_TOPIC_LENGTH, MAX_TOPIC_TERMS, Topic, parse_topic, source_term

__all__ = [
    "MAX_TOPIC_LENGTH",
    "MAX_TOPIC_TERMS",
    "Phrase",
    "Topic",
    "base_language",
    "countries_named",
    "document_terms",
    "parse_topic",
    "source_term",
    "stem",
    "words",
]
