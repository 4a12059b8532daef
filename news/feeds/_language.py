"""A small language guesser for feeds that do not declare their language.

The language only chooses the stemmer a story is indexed with (see
`news.topics.analysis.STEMMERS`), so guessing among those languages is enough. A full identifier
such as py3langid was measured here (docs/benchmarks.md): its load time and memory (numpy and its
model), paid in every parse worker, are more than the whole ingest budget. Counting frequent
function words does the job for the languages that have a stemmer, at a negligible cost per feed
and with no dependency.
"""

from __future__ import annotations

from collections import Counter

from news.topics import words

_CYRILLIC_UKRAINIAN = frozenset("іїєґ")
_STOPWORDS = {
    "en": "the of and to in is that for on with as by at from was are this it be has have",
    "de": "der die das und ist nicht mit sich auf für den dem ein eine auch von zu im des",
    "fr": "le la les des et est une du dans pour que qui sur au pas par ce avec sont aux",
    "es": "el la los las del y en que por una con para es se al lo como más pero sus",
    "it": "il lo la gli le di che è per una con del della non sono alla nel anche dei",
    "pt": "o os as do da dos das que em para com uma não por mais ao se foi são pelo",
    "nl": "de het een en van is dat op te in niet met voor zijn er ook aan door bij",
    "pl": "i w na z że się nie do jest to o jak po od za przez dla są ale już",
    "ru": "и в на не что с по как это для из от за к о его но все так же",
}
_LOOKUP: dict[str, list[str]] = {}
for _language, _words in _STOPWORDS.items():
    for _word in _words.split():
        _LOOKUP.setdefault(_word, []).append(_language)


def guess_language(text: str, *, default: str = "en") -> str:
    """The most likely ISO 639-1 code of `text` among the stemmed languages, else `default`."""
    tokens = words(text[:5_000])
    if not tokens:
        return default
    cyrillic = sum(1 for token in tokens if any("\u0400" <= ch <= "\u04ff" for ch in token))
    if cyrillic * 2 > len(tokens):
        ukrainian = any(ch in _CYRILLIC_UKRAINIAN for token in tokens for ch in token)
        return "uk" if ukrainian else "ru"
    votes: Counter[str] = Counter()
    for token in tokens:
        for language in _LOOKUP.get(token, ()):
            votes[language] += 1
    if not votes:
        return default
    best, count = votes.most_common(1)[0]
    return best if count >= 2 else default
