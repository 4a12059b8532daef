"""Turning text into search terms: one analyser for stories and for topics, so both agree.

A term is a word case-folded, reduced to its stem (or lemma) in a language and stripped of
accents: "Ukraine's" → "ukrain", "talks" → "talk", "élections" → "elect", "України" → "украіна".
A story is indexed under the terms of its own language, in document order, so that phrases can be
found; a word of a topic is looked up under its term in every language its script may belong to,
because a reader who types `ukraine` wants the German and French stories too.

Latin-script languages are stemmed with Snowball. Snowball has no Ukrainian, so Ukrainian and
Russian words are lemmatised with pymorphy3 and its dictionaries (OpenCorpora for Russian, the
VESUM lexicon for Ukrainian): a lemma is a stem that also knows irregular forms ("Києві" → "київ",
"Китая" → "китай", where Snowball's Russian stemmer gives "кит"). A topic word keeps every lemma
the dictionary offers for it, a story word its most likely one.

One word is told apart before case-folding: "US" (and "U.S.") in capitals is the United States,
written "usa"; in lower case it is a pronoun.
"""

from __future__ import annotations

import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import snowballstemmer

#: A topic phrase or word as terms: ("peace", "talk").
Phrase = tuple[str, ...]

_POSSESSIVE = re.compile(r"['’]s\b", re.IGNORECASE)
# Apostrophes join a word only in Cyrillic ("перемир'я"); in Latin script they split ("l'Ukraine").
_WORD = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*")
_APOSTROPHE = re.compile(r"['’ʼ]")
_US = re.compile(r"\bU\.S\.(?:A\.)?|\bUS\b")

#: Languages whose Snowball stemmer Newsbot uses, by ISO 639-1 code; Ukrainian is lemmatised.
STEMMERS = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "pl": "polish",
}
LEMMATISED = frozenset({"ru", "uk"})
_LATIN_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl")
_CYRILLIC_LANGUAGES = ("ru", "uk")
# A phrase of Ukrainian words with several lemmas each is looked up in at most this many forms.
_MAX_LEMMA_COMBINATIONS = 16


# Snowball stemmers keep the word being stemmed in instance state, so one stemmer shared by the
# parse threads garbles words and raises (IndexError): each thread gets its own.
_thread_state = threading.local()
# pymorphy3's analysers are loaded once per process (each costs load time and memory) and shared;
# a lock keeps their use to one thread at a time, which costs little since the GIL does the same
# and `_lemmas` caches each word's answer.
_morph_lock = threading.Lock()


def _stemmer(algorithm: str) -> snowballstemmer.Stemmer:
    stemmers: dict[str, snowballstemmer.Stemmer] | None = getattr(_thread_state, "stemmers", None)
    if stemmers is None:
        stemmers = _thread_state.stemmers = {}
    found = stemmers.get(algorithm)
    if found is None:
        # Imported on the first word stemmed: it loads every language's stemmer, which commands
        # that stem nothing (`newsbot sources list`) need not pay for.
        import snowballstemmer

        found = stemmers[algorithm] = snowballstemmer.stemmer(algorithm)
    return found


@cache
def _morph(language: str) -> Any:
    import pymorphy3  # loaded on the first Cyrillic word

    return pymorphy3.MorphAnalyzer(lang=language)


def base_language(language: str | None) -> str:
    """ "en-GB" → "en"; unknown or empty → "en", the most common language of news feeds."""
    code = (language or "en").strip().lower().replace("_", "-").split("-")[0]
    return code or "en"


def strip_accents(word: str) -> str:
    """The word without combining marks: "é" → "e", "ё" → "е"."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def is_cyrillic(word: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in word)


def words(text: str) -> list[str]:
    """The case-folded words of `text`, possessive "'s" removed, in order."""
    found: list[str] = []
    text = _US.sub("USA", _POSSESSIVE.sub("", unicodedata.normalize("NFKC", text)))
    for match in _WORD.findall(text):
        found.extend(_token_words(match))
    return found


@lru_cache(maxsize=50_000)
def _token_words(token: str) -> tuple[str, ...]:
    # Cached: news repeats its words, and folding and splitting each anew was a tenth of the
    # time a parse worker spends on a feed.
    found: list[str] = []
    for word in _WORD.findall(_fold(token)):
        if "'" in word or "’" in word or "ʼ" in word:
            if is_cyrillic(word):
                found.append(_APOSTROPHE.sub("", word))
            else:
                found.extend(part for part in _APOSTROPHE.split(word) if part)
        else:
            found.append(word)
    return tuple(found)


def _fold(word: str) -> str:
    """Case-folded and NFKC-normalised until stable, so that a word's words are itself."""
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", word.casefold())
        if folded == word:
            break
        word = folded
    return word


@lru_cache(maxsize=100_000)
def _lemmas(word: str, language: str) -> tuple[str, ...]:
    """The lemmas of `word` in `language`, most likely first, without apostrophes."""
    try:
        with _morph_lock:
            parses = _morph(language).parse(word)
    except (KeyError, ValueError):
        # pymorphy3 names each character's shape with unicodedata, which knows no name for
        # some characters (Tangut, private use): such a word is its own lemma.
        return (word,)
    lemmas = dict.fromkeys(_APOSTROPHE.sub("", parse.normal_form) for parse in parses)
    return tuple(lemmas) or (word,)


@lru_cache(maxsize=200_000)
def stem(word: str, language: str) -> str:
    """One case-folded word as a term of `language`."""
    if language in LEMMATISED:
        return strip_accents(_lemmas(word, language)[0])
    algorithm = STEMMERS.get(language)
    stemmed = _stemmer(algorithm).stemWord(word) if algorithm else word
    return strip_accents(stemmed)


def document_terms(text: str, language: str | None) -> tuple[str, ...]:
    """The terms a story is indexed under, in the order its words come."""
    lang = base_language(language)
    return tuple(stem(word, lang) for word in words(text))


def _word_forms(word: str, language: str) -> tuple[str, ...]:
    """Every term `word` may stand for in a story of `language`."""
    if language in LEMMATISED:
        return tuple(dict.fromkeys(strip_accents(lemma) for lemma in _lemmas(word, language)))
    return (stem(word, language),)


def topic_languages(phrase: Sequence[str]) -> tuple[str, ...]:
    """The languages a topic phrase may be written in, judged by its script."""
    return _CYRILLIC_LANGUAGES if any(is_cyrillic(w) for w in phrase) else _LATIN_LANGUAGES


def phrase_in(phrase: Sequence[str], language: str) -> frozenset[Phrase]:
    """The term sequences `phrase` (case-folded words) appears as in a story of `language`."""
    forms = [_word_forms(word, language) for word in phrase]
    combinations = itertools.islice(itertools.product(*forms), _MAX_LEMMA_COMBINATIONS)
    return frozenset(combinations)


@lru_cache(maxsize=50_000)
def phrase_alternatives(phrase: Phrase) -> frozenset[Phrase]:
    """Every term sequence a topic phrase may appear as, in any plausible language.

    Each language is taken as a whole (a phrase is written in one language), and the bare
    accent-free words are always included, for names inside stories of other languages.
    """
    if all(word.isdigit() for word in phrase):
        return frozenset({phrase})
    found: set[Phrase] = {tuple(strip_accents(word) for word in phrase)}
    for language in topic_languages(phrase):
        found |= phrase_in(phrase, language)
    return frozenset(found)


def word_alternatives(word: str) -> frozenset[str]:
    """Every term a single topic word may appear as in a story."""
    return frozenset(terms[0] for terms in phrase_alternatives((word,)))


class TermIndex:
    """A story's terms ready for matching: which terms occur, and where (for phrases)."""

    __slots__ = ("_positions",)

    def __init__(self, terms: Iterable[str]) -> None:
        positions: dict[str, list[int]] = {}
        for position, term in enumerate(terms):
            positions.setdefault(term, []).append(position)
        self._positions = positions

    def __contains__(self, phrase: object) -> bool:
        if not isinstance(phrase, tuple) or not phrase:
            return False
        starts = self._positions.get(phrase[0])
        if not starts:
            return False
        if len(phrase) == 1:
            return True
        following = [set(self._positions.get(term, ())) for term in phrase[1:]]
        return any(
            all(start + offset in places for offset, places in enumerate(following, 1))
            for start in starts
        )
