"""Key points for the story card: the 2–4 sentences that carry a story, taken from its own text.

Extractive and local, no external service. The story's sentences are scored by centrality: the
cosine of a sentence's TF-IDF vector (terms from `news.topics.analysis.document_terms`, function
words dropped, IDF over the sentences at hand) with the centroid of all of them plus the headline.
News puts the facts first, so a sentence also earns a small bonus for coming early in its report.
Sentences are taken best first, skipping any that repeats one already taken (term Jaccard ≥
`REPEAT_JACCARD`, 0.35), until `maximum` are taken or the next one scores below `KEEP_RATIO` of the
best; there are never fewer than `minimum` while sentences remain. They are given in reading order.

When the feed carries only a teaser (fewer than `TEASER_SENTENCES` sentences or `TEASER_WORDS`
words), the sentences of the other reports in the story's cluster join the pool: what several
outlets say scores high, and the copies of one sentence across wire reports count once. The
teaser's own sentences keep a bonus, since they are the reader's story.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from news.events.clustering import function_terms
from news.topics import document_terms

TEASER_SENTENCES = 3
TEASER_WORDS = 60
REPEAT_JACCARD = 0.35
KEEP_RATIO = 0.5
TEASER_BONUS = 1.2
# A sentence of fewer words is a caption, a byline or a fragment, not a point.
_MIN_WORDS = 6
_MAX_WORDS = 80
_POSITION_BONUS = 0.3

_BOUNDARY = re.compile(r"[.!?][\"'”’»)]*\s+(?=[\"'“‘«(]?[^\W_a-zà-ÿа-яіїєґ])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:[A-Za-z]\.)+|\b(?:Mr|Mrs|Ms|Dr|St|Sen|Rep|Gen|Gov|Prof|Jan|Feb|Mar|Apr|Jun|Jul|Aug|"
    r"Sep|Sept|Oct|Nov|Dec|No|vs|bzw|ca|Nr|Hr|Fr)\.)$"
)


@dataclass(frozen=True, slots=True)
class KeyPoint:
    """A sentence worth reading, and where it comes from: 0 is the story, i is `related[i - 1]`."""

    text: str
    report: int = 0


def sentences(text: str) -> list[str]:
    """The sentences of `text`, paragraph by paragraph, not cut after "U.S." or "Feb."."""
    found: list[str] = []
    for paragraph in text.splitlines():
        start = 0
        for match in _BOUNDARY.finditer(paragraph):
            if _ABBREVIATION.search(paragraph[start : match.start() + 1]):
                continue
            found.append(paragraph[start : match.end()].strip())
            start = match.end()
        found.append(paragraph[start:].strip())
    return [sentence for sentence in found if sentence]


def is_teaser(text: str) -> bool:
    """Whether a feed's text is too short to have key points of its own."""
    return len(sentences(text)) < TEASER_SENTENCES or len(text.split()) < TEASER_WORDS


def key_points(
    text: str,
    language: str,
    *,
    title: str = "",
    related: Sequence[str] = (),
    minimum: int = 2,
    maximum: int = 4,
) -> list[KeyPoint]:
    """2–4 sentences of the story (of the other reports too, if the story is a teaser)."""
    reports = [text, *related] if is_teaser(text) else [text]
    pool: list[tuple[int, int, str]] = []
    for report, body in enumerate(reports):
        for position, sentence in enumerate(sentences(body)):
            if _MIN_WORDS <= len(sentence.split()) <= _MAX_WORDS:
                pool.append((report, position, sentence))
    if not pool:
        return []
    skip = function_terms(language)
    counts = [_counts(sentence, language, skip) for _, _, sentence in pool]
    frequency: dict[str, int] = {}
    for terms in counts:
        for term in terms:
            frequency[term] = frequency.get(term, 0) + 1
    idf = {term: 1.0 + math.log(len(pool) / df) for term, df in frequency.items()}
    vectors = [_unit({t: (1 + math.log(n)) * idf[t] for t, n in c.items()}) for c in counts]
    centroid: dict[str, float] = {}
    for vector in [*vectors, _unit(_headline(title, language, skip, idf))]:
        for term, weight in vector.items():
            centroid[term] = centroid.get(term, 0.0) + weight
    centroid = _unit(centroid)

    scores = []
    for (report, position, _), vector in zip(pool, vectors, strict=True):
        score = sum(weight * centroid.get(term, 0.0) for term, weight in vector.items())
        score *= 1 + _POSITION_BONUS / (position + 1)
        if report == 0 and len(reports) > 1:
            score *= TEASER_BONUS
        scores.append(score)

    order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    for index in order:
        if len(chosen) == maximum:
            break
        if len(chosen) >= minimum and scores[index] < KEEP_RATIO * scores[order[0]]:
            break
        said = set(counts[index])
        if any(_jaccard(said, set(counts[other])) >= REPEAT_JACCARD for other in chosen):
            continue
        chosen.append(index)
    return [KeyPoint(pool[i][2], pool[i][0]) for i in sorted(chosen)]


def _counts(sentence: str, language: str, skip: frozenset[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for term in document_terms(sentence, language):
        if term not in skip and len(term) > 1:
            counts[term] = counts.get(term, 0) + 1
    return counts


def _headline(
    title: str, language: str, skip: frozenset[str], idf: dict[str, float]
) -> dict[str, float]:
    return {term: idf[term] for term in _counts(title, language, skip) if term in idf}


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in vector.values()))
    return {term: w / norm for term, w in vector.items()} if norm else {}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
