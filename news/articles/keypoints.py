"""Key points from an article's body: 2–4 whole, informative sentences, in the article's order.

The sentences are first sifted: a key point starts like a sentence (a capital, a digit or a
quote) and ends like one (. ! ? or a closing quote after them); it is not a dateline ("LONDON
(Reuters) -" is cut from the sentence it opens), a byline, a photo credit or caption, a call to
subscribe, share or read more, a copyright line, nor the headline said again. What is left is
scored by the story card's own ranker (`news.events.keypoints.key_points`: centrality to the
article and its headline, a bonus for coming early, no two points saying the same) and given in
the article's order. Only the first `CANDIDATES` good sentences are ranked. An article of over
`LONG_ARTICLE_CHARS` characters gets at least 3 points when it has that many good sentences.
"""

from __future__ import annotations

import re

from news.events.keypoints import key_points, sentences
from news.topics.analysis import is_cyrillic

MAX_POINTS = 4
MIN_POINTS = 2
#: An article this long has enough to say for three points.
LONG_ARTICLE_CHARS = 1500
#: Only the first this many good sentences are ranked: news puts its facts first, and ranking
#: a long feature's every sentence (stemming each word) would cost more than its extraction.
CANDIDATES = 30
# Two sentences sharing this share of their words say the same thing (the headline repeated).
_SAME_AS_TITLE = 0.6

_AGENCY = r"\((?:Reuters|AP|AFP|CNN|dpa|Bloomberg|CNBC|UPI|IANS|PTI)[\w ]{0,20}\)"
_DATELINE = re.compile(
    r"^(?:(?:[A-ZÀ-Þ][A-ZÀ-Þ.'’ -]{1,40}|[A-Z][a-z]{2,9}\.? \d{1,2})"
    rf"(?:,\s*[A-Za-z. ]{{2,30}})?\s*(?:{_AGENCY}\s*)?|{_AGENCY}\s*)[-—–]+\s+|"
    # "(CNN)President …", "Hong Kong (CNN Business)A muddled view …"
    rf"^(?:[A-Z][\w.' -]{{0,30}} )?{_AGENCY}(?=[A-Z])"
)
_BOILERPLATE = re.compile(
    r"^(?:by|von|par|por|reporting by|writing by|editing by|additional reporting)\s|"
    r"\b(?:photo|image|picture|video|illustration|caption|file photo)s?\s*(?::|by\b|credit|"
    r"courtesy)|getty images|\bap photo\b|via reuters|\bafp\b via|shutterstock|\bepa-efe\b|"
    r"sign up|subscribe|newsletter|follow us|click here|read more|continue reading|"
    r"all rights reserved|copyright|©|cookies?\b|advertisement|share this|download (?:our|the) app|"
    r"contact us|email us at|first published|last (?:updated|modified)|published (?:on|at)\b|"
    r"updated (?:on|at)\b|this story has been|this article (?:was|has been|originally)|"
    r"\bstory continues\b|^related:|^watch:|^listen:|^see also|^more:|non-commercial use|"
    r"\breprints?\b|\bpowered by\b|\bopen thread\b|\bmoderat(?:or|ed|ion)\b|"
    r"comentários|commentaires|kommentare|comentarios|\bcomments?\b.{0,40}\b(?:approved|policy)",
    re.IGNORECASE,
)
_STARTS = re.compile(r"^[\"'“‘«(]?[^\W_a-zà-ÿа-яіїєґ]")
_ENDS = re.compile(r"[.!?…][\"'”’»)]*$")
_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _is_point(sentence: str, title_words: set[str]) -> bool:
    if not (_STARTS.match(sentence) and _ENDS.search(sentence)):
        return False
    if _BOILERPLATE.search(sentence):
        return False
    if sum(ch.isupper() for ch in sentence) > 0.5 * sum(ch.isalpha() for ch in sentence):
        return False
    said = _words(sentence)
    if title_words and said:
        shared = len(said & title_words) / len(said | title_words)
        if shared >= _SAME_AS_TITLE or said <= title_words:
            return False
    return True


def _guess_language(text: str) -> str:
    sample = text[:2000].split()
    cyrillic = sum(is_cyrillic(word) for word in sample)
    return "ru" if sample and cyrillic > len(sample) / 2 else "en"


def article_key_points(text: str, title: str = "") -> tuple[str, ...]:
    """2–4 key points of the article `text` headed `title`, in the article's order; fewer (or
    none) when it has fewer good sentences. The script decides between English and Russian
    stemming for the ranker."""
    title_words = _words(title)
    kept: list[str] = []
    for sentence in sentences(text):
        sentence = _DATELINE.sub("", sentence, count=1).strip()
        if sentence and _is_point(sentence, title_words):
            kept.append(sentence)
            if len(kept) == CANDIDATES:
                break
    if not kept:
        return ()
    minimum = 3 if len(text) > LONG_ARTICLE_CHARS else MIN_POINTS
    chosen = key_points(
        "\n".join(kept),
        _guess_language(text),
        title=title,
        minimum=minimum,
        maximum=MAX_POINTS,
    )
    return tuple(point.text for point in chosen)
