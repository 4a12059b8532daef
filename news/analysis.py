"""Turning text into search terms: one analyser for stories and for topics, so both agree.

A term is a word case-folded, stemmed in a language (Snowball) and stripped of accents:
"Ukraine's" → "ukrain", "talks" → "talk", "élections" → "elect". A story is indexed under the
stems of its own language; a word of a topic is looked up under its stem in every language its
script may belong to, because a reader who types `ukraine` wants the German and French stories too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache

import snowballstemmer

_POSSESSIVE = re.compile(r"['’]s\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")

#: Languages whose stemmer Newsbot uses, by ISO 639-1 code. Ukrainian has no Snowball stemmer;
#: the Russian one strips most of the same case endings, which is better than none.
STEMMERS = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "pl": "polish",
    "ru": "russian",
    "uk": "russian",
}
_LATIN_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl")
_CYRILLIC_LANGUAGES = ("ru",)


@cache
def _stemmer(algorithm: str) -> snowballstemmer.Stemmer:
    return snowballstemmer.stemmer(algorithm)


def base_language(language: str | None) -> str:
    """ "en-GB" → "en"; unknown or empty → "en", the most common language of news feeds."""
    code = (language or "en").strip().lower().replace("_", "-").split("-")[0]
    return code or "en"


def strip_accents(word: str) -> str:
    """The word without combining marks: "é" → "e", "ё" → "е"."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The case-folded words of `text`, possessive "'s" removed, in order."""
    return _WORD.findall(_POSSESSIVE.sub("", unicodedata.normalize("NFKC", text)).casefold())


@lru_cache(maxsize=200_000)
def stem(word: str, language: str) -> str:
    """One case-folded word as a term of `language`."""
    algorithm = STEMMERS.get(language)
    stemmed = _stemmer(algorithm).stemWord(word) if algorithm else word
    return strip_accents(stemmed)


def document_terms(text: str, language: str | None) -> set[str]:
    """The set of terms a story is indexed under."""
    lang = base_language(language)
    return {stem(word, lang) for word in words(text)}


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


@lru_cache(maxsize=50_000)
def word_alternatives(word: str) -> frozenset[str]:
    """Every term a topic word may appear as in a story: its stem in each plausible language."""
    if word.isdigit():
        return frozenset({word})
    languages: Iterable[str] = _CYRILLIC_LANGUAGES if _is_cyrillic(word) else _LATIN_LANGUAGES
    return frozenset({stem(word, lang) for lang in languages} | {strip_accents(word)})
