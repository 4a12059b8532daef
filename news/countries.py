"""Countries and their demonyms: `ukraine` finds "Ukrainian", "Україна" and "ukrainien" too.

The table `news/data/countries.tsv` lists, per ISO 3166 code, the country's names and demonyms in
English, German, French, Spanish, Russian and Ukrainian; `news/data/build_countries.py` generates
it from countryinfo (REST Countries) and babel (Unicode CLDR). A topic word or phrase that is one
of a country's names, in the form a stemmer gives it in that name's language, stands for all of
them. Only whole names count: `guinea` is Guinea, never "Papua New Guinea".
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from news.analysis import Phrase, phrase_in, strip_accents, topic_languages, words

#: The longest country name, in words, that a topic's plain words are searched for.
MAX_NAME_WORDS = 5


def _stemmed(name: Phrase, language: str) -> frozenset[Phrase]:
    """The name's terms in `language`, unless stemming cut a word to an everyday stem.

    Snowball treats names like any word: Spanish "París" becomes "par", as "para" does, and
    "Teherán" becomes "teh". Such a form would match everywhere, so only the bare name is kept.
    """
    return frozenset(
        form
        for form in phrase_in(name, language)
        if all(
            len(term) >= 4 or term == strip_accents(word)
            for term, word in zip(form, name, strict=True)
        )
    )


@cache
def _table() -> tuple[dict[str, frozenset[Phrase]], dict[tuple[str, Phrase], frozenset[str]]]:
    """Per country, every term sequence it may appear as; per (language, terms), its countries."""
    alternatives: dict[str, set[Phrase]] = {}
    codes: dict[tuple[str, Phrase], set[str]] = {}
    text = resources.files("news").joinpath("data/countries.tsv").read_text("utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, language, name = line.split("\t")
        name_words = tuple(words(name))
        if not name_words:
            continue
        forms = _stemmed(name_words, language)
        if language == "de" and name_words[-1][-1] not in "sxzß":
            # German names take a genitive "s" ("Chinas Exporte") that its stemmer keeps.
            forms |= _stemmed((*name_words[:-1], name_words[-1] + "s"), language)
        group = alternatives.setdefault(code, set())
        group |= forms
        group.add(tuple(strip_accents(word) for word in name_words))
        for form in forms:
            codes.setdefault((language, form), set()).add(code)
    return (
        {code: frozenset(group) for code, group in alternatives.items()},
        {key: frozenset(found) for key, found in codes.items()},
    )


def countries_named(phrase: Phrase) -> frozenset[str]:
    """The ISO codes of the countries `phrase` (case-folded words) names, often none."""
    _, codes = _table()
    found: set[str] = set()
    for language in (*topic_languages(phrase), "en"):
        for form in phrase_in(phrase, language):
            found |= codes.get((language, form), frozenset())
    return frozenset(found)


def country_alternatives(codes: frozenset[str]) -> frozenset[Phrase]:
    """Every term sequence the countries `codes` may appear as in a story, in any language."""
    alternatives, _ = _table()
    return frozenset().union(*(alternatives[code] for code in codes))
