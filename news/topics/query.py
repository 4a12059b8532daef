"""Topics: what a reader types after /subscribe or /latest, parsed once and matched everywhere.

The topic language:
- `peace talks`: every word must appear in a story, in any order;
- `"peace talks"`: the words must appear together, in this order (a phrase);
- `ceasefire OR truce`: either will do; OR binds the two items beside it, so
  `gaza ceasefire OR truce` is gaza and (ceasefire or truce). Parentheses are not supported;
  like all punctuation they are ignored;
- `-sports`, `-"world cup"`: stories with this word or phrase are left out;
- `source:bbc`, `source:"kyiv independent"`: only stories from a source whose name holds these
  words (several `source:` are alternatives; `-source:NAME` leaves a source out). A topic of
  `source:` terms alone (exclusions allowed: `source:bbc -sports`) follows a whole outlet.

Matching ignores case, accents and punctuation and is stem-aware in the story's language (see
`news.topics.analysis`); a country's name also finds its other names and demonyms (see
`news.topics.countries`). A topic whose words tell the language they are written in (a
country's name in one language only, as `ucrania`; letters only German or Spanish writes, as
"ü" or "ñ") has `Topic.language`: its exclusions are that language's words, stemmed by its
stemmer and left out of that language's stories only, so that `ucrania -deportes` (sport) keeps
"Russia deported …", which the English stemmer reads as the same stem; the word as typed (and a
country's names) is left out of every story. The same `Topic` serves the database's full-text
index (`storage.search`) and in-memory matching of new stories (`Topic.matches`), so a pushed
story and a /latest answer never disagree.

A topic has a normal form, `Topic.text`, that is shown back to the reader and keys subscriptions:
words case-folded, duplicates dropped, words first, then exclusions, then sources
(`Ukraine  -Sports UKRAINE` → `ukraine -sports`); an outlet's topic starts with its sources
(`-Sports source:BBC` → `source:bbc -sports`). Parsing the normal form gives the same topic.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from news.errors import N_, N_plural, TopicError
from news.topics.analysis import (
    STEMMERS,
    Phrase,
    TermIndex,
    base_language,
    is_cyrillic,
    phrase_alternatives,
    phrase_in,
    strip_accents,
    words,
)
from news.topics.countries import (
    MAX_NAME_WORDS,
    countries_named,
    country_alternatives,
    cut_to_everyday_stem,
    name_languages,
)

MAX_TOPIC_LENGTH = 200
MAX_TOPIC_TERMS = 20

_QUOTES = str.maketrans(dict.fromkeys("“”„‟«»″〝〞＂", '"'))
_MINUS = "-−–—"
_SOURCE = re.compile(r"source:", re.IGNORECASE)
_OR = "OR"
# Letters that only one of the Latin-script languages Newsbot speaks writes ("ß" is folded to
# "ss", as the normal form shows it).
_LETTER_LANGUAGES = {"ä": "de", "ö": "de", "ü": "de", "ñ": "es"}


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: its normal form and what a story must, and must not, contain.

    `required` holds one set of alternatives per AND-ed item; an item is found when any of its
    term sequences is in the story. `excluded` are term sequences none of which may be, and
    `excluded_in_language` more that no story in the topic's `language` may hold. A topic
    without `required` items follows its `sources` (an outlet's topic: `is_outlet`).
    """

    text: str
    required: tuple[frozenset[Phrase], ...]
    excluded: frozenset[Phrase] = frozenset()
    sources: tuple[Phrase, ...] = ()
    excluded_sources: tuple[Phrase, ...] = ()
    #: The language the topic's words are written in, when they tell it ("es"); else None.
    language: str | None = None
    excluded_in_language: frozenset[Phrase] = frozenset()

    def matches(
        self, terms: TermIndex | Sequence[str], *, source: str = "", language: str | None = None
    ) -> bool:
        """True when a story with these terms (in order), from `source`, in `language`, is about
        this topic. A story of unknown `language` (None) is taken to be in the topic's own."""
        index = terms if isinstance(terms, TermIndex) else TermIndex(terms)
        return (
            all(any(phrase in index for phrase in group) for group in self.required)
            and not any(phrase in index for phrase in self.excluded)
            and not (
                self.excluded_in_language
                and self.in_own_language(language)
                and any(phrase in index for phrase in self.excluded_in_language)
            )
            and self.from_source(source)
        )

    def in_own_language(self, language: str | None) -> bool:
        """True when a story in `language` (None: unknown) is in the topic's language, so that
        `excluded_in_language` applies to it."""
        return language is None or base_language(language) == self.language

    def from_source(self, name: str) -> bool:
        """True when a story from the source called `name` passes the `source:` filters."""
        if not self.sources and not self.excluded_sources:
            return True
        return not self.refuses_source(name) and (not self.sources or self.names_source(name))

    def names_source(self, name: str) -> bool:
        """True when one of the topic's `source:` filters names the source called `name`."""
        return any(_contains(_name_words(name), wanted) for wanted in self.sources)

    def refuses_source(self, name: str) -> bool:
        """True when one of the topic's `-source:` filters names the source called `name`."""
        return any(_contains(_name_words(name), unwanted) for unwanted in self.excluded_sources)

    @property
    def is_outlet(self) -> bool:
        """True for a topic of `source:` terms alone: every story of those sources (less any
        exclusions)."""
        return not self.required

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=4096)
def _name_words(name: str) -> Phrase:
    return tuple(words(name))


def _contains(haystack: Phrase, needle: Phrase) -> bool:
    size = len(needle)
    return any(haystack[i : i + size] == needle for i in range(len(haystack) - size + 1))


@dataclass(frozen=True, slots=True)
class _Item:
    kind: str  # "words", "phrase", "source" or "or"
    words: Phrase = ()
    negated: bool = False


def _tokens(raw: str) -> list[_Item]:
    """The items of a topic, left to right; raises on an unbalanced quote."""
    text = unicodedata.normalize("NFKC", raw).translate(_QUOTES)
    items: list[_Item] = []
    position, end = 0, len(text)
    while position < end:
        if text[position].isspace():
            position += 1
            continue
        negated = text[position] in _MINUS
        if negated:
            position += 1
            if position == end or text[position].isspace():
                continue
        kind = "words"
        if _SOURCE.match(text, position):
            kind, position = "source", position + len("source:")
        if position < end and text[position] == '"':
            closing = text.find('"', position + 1)
            if closing < 0:
                raise TopicError(
                    N_(
                        'That topic has an opening quote (") without a closing one. '
                        'Put a phrase between two quotes, as in: "peace talks"'
                    )
                )
            chunk, position = text[position + 1 : closing], closing + 1
            if kind == "words":
                kind = "phrase"
        else:
            stop = position
            while stop < end and not text[stop].isspace() and text[stop] != '"':
                stop += 1
            chunk, position = text[position:stop], stop
            if chunk == _OR and kind == "words" and not negated:
                items.append(_Item("or"))
                continue
        found = tuple(dict.fromkeys(words(chunk))) if kind == "source" else tuple(words(chunk))
        if found:
            items.append(_Item(kind, found, negated))
    return items


def _merge_country_names(sequence: list[_Item]) -> list[_Item]:
    """Runs of plain words with multi-word country names ("united states") made phrases."""
    result: list[_Item] = []
    position = 0
    while position < len(sequence):
        run_end = position
        while run_end < len(sequence) and _plain(sequence[run_end]):
            run_end += 1
        if run_end - position < 2:
            result.append(sequence[position])
            position += 1
            continue
        run = [item.words[0] for item in sequence[position:run_end]]
        start = 0
        while start < len(run):
            for size in range(min(MAX_NAME_WORDS, len(run) - start), 1, -1):
                candidate = tuple(run[start : start + size])
                if countries_named(candidate):
                    result.append(_Item("phrase", candidate))
                    start += size
                    break
            else:
                result.append(_Item("words", (run[start],)))
                start += 1
        position = run_end
    return result


def _without_repeated_words(items: Sequence[_Item]) -> list[_Item]:
    """`items` without a word or phrase that stands alone a second time. It goes before country
    names are found, so the words it brings together ("united 0 states" → "united states")
    read as they will in the normal form, and parsing that form finds the same topic."""

    def alone(position: int) -> bool:
        beside = [*items[position - 1 : position], *items[position + 1 : position + 2]]
        return _positive(items[position]) and all(item.kind != "or" for item in beside)

    seen: set[Phrase] = set()
    kept: list[_Item] = []
    for position, item in enumerate(items):
        if alone(position):
            if item.words in seen:
                continue
            seen.add(item.words)
        kept.append(item)
    return kept


def _plain(item: _Item) -> bool:
    return item.kind == "words" and len(item.words) == 1 and not item.negated


def _alternatives(phrase: Phrase) -> frozenset[Phrase]:
    countries = countries_named(phrase)
    found = phrase_alternatives(phrase)
    if not countries:
        return found
    if any(is_cyrillic(word) for word in phrase):
        return found | country_alternatives(countries)
    # A country's name typed in Latin letters is stemmed as eight languages would, and those
    # stems are matched in stories of every language: it follows the country table's rule
    # (no form cut to an everyday word's stem: Spanish "canada" -> "can" matched "Prices can
    # rise", Italian "maputo" -> "map" every story of maps).
    kept = frozenset(form for form in found if not cut_to_everyday_stem(form, phrase))
    return kept | country_alternatives(countries)


def _written_in(items: Sequence[_Item]) -> str | None:
    """The one Latin-script language the topic's words are written in, by their clues: country
    names and demonyms as one language writes them, letters one language uses; else None.
    The clues are those of the case-folded words, so the normal form has the same language."""
    candidates: set[str] | None = None
    # Items as the topic's clauses see them: a country's name of several words is one item
    # ("united states"), as in the normal form.
    for item in _merge_country_names(_without_repeated_words(items)):
        if item.kind not in ("words", "phrase"):
            continue
        if any(is_cyrillic(word) for word in item.words):
            return None
        clues = [name_languages(item.words)] if len(item.words) > 1 else []
        clues += [name_languages((word,)) for word in item.words]
        clues += [
            frozenset({_LETTER_LANGUAGES[ch]})
            for word in item.words
            for ch in word
            if ch in _LETTER_LANGUAGES
        ]
        for clue in filter(None, clues):
            candidates = set(clue) if candidates is None else candidates & clue
    if candidates is None or len(candidates) != 1:
        return None
    [language] = candidates
    return language if language in STEMMERS else None


def _excluded(
    phrases: Sequence[Phrase], language: str | None
) -> tuple[frozenset[Phrase], frozenset[Phrase]]:
    """What exclusions leave out of every story, and what only out of `language`'s stories.

    Without a language, every form in every language a word may take leaves a story out; with
    one, the word as typed (and a country's names) does, and its stems in that language only
    in stories of that language.
    """
    if language is None:
        return frozenset().union(*(_alternatives(phrase) for phrase in phrases)), frozenset()
    everywhere: set[Phrase] = set()
    own: set[Phrase] = set()
    for phrase in phrases:
        everywhere.add(tuple(strip_accents(word) for word in phrase))
        if countries := countries_named(phrase):
            everywhere |= country_alternatives(countries)
        own |= phrase_in(phrase, language)
    return frozenset(everywhere), frozenset(own - everywhere)


def _render(phrase: Phrase) -> str:
    return phrase[0] if len(phrase) == 1 else '"' + " ".join(phrase) + '"'


def _positive(item: _Item | None) -> bool:
    return item is not None and item.kind in ("words", "phrase") and not item.negated


def _clauses(items: Sequence[_Item]) -> list[list[Phrase]]:
    """Positive items, OR-ed ones grouped into one clause each."""
    sequence = _merge_country_names(_without_repeated_words(items))
    clauses: list[list[Phrase]] = []
    join_next = False
    for number, item in enumerate(sequence):
        if item.kind == "or":
            previous = sequence[number - 1] if number else None
            following = sequence[number + 1] if number + 1 < len(sequence) else None
            if not (_positive(previous) and _positive(following)):
                raise TopicError(
                    N_(
                        "OR goes between two words or phrases to look for, "
                        "as in: ceasefire OR truce"
                    )
                )
            join_next = True
            continue
        if not _positive(item):
            continue
        if join_next:
            clauses[-1].append(item.words)
        else:
            clauses.append([item.words])
        join_next = False
    return clauses


def _unique(phrases: Iterable[Phrase]) -> list[Phrase]:
    return list(dict.fromkeys(phrases))


def parse_topic(raw: str) -> Topic:
    """Parse what a reader typed; raise `TopicError` with a reason they can act on."""
    stripped = raw.strip()
    if not stripped:
        raise TopicError(
            N_(
                "The topic is empty. Try for example: "
                'ukraine, "peace talks", ceasefire OR truce, ukraine -sports'
            )
        )
    if len(stripped) > MAX_TOPIC_LENGTH:
        raise TopicError(
            # Translators: {count} is the length of the topic the user typed, in characters
            # (more than {limit}); {limit} is the longest a topic may be (200).
            N_plural(
                "That topic is {count} character long; use at most {limit}.",
                "That topic is {count} characters long; use at most {limit}.",
            ),
            count=len(stripped),
            limit=MAX_TOPIC_LENGTH,
        )
    items = _tokens(stripped)
    clauses: list[list[Phrase]] = []
    for clause in _clauses(items):
        unique = _unique(clause)
        if unique not in clauses:
            clauses.append(unique)
    excluded = _unique(item.words for item in items if item.negated and item.kind != "source")
    sources = _unique(item.words for item in items if item.kind == "source" and not item.negated)
    not_sources = _unique(item.words for item in items if item.kind == "source" and item.negated)
    terms = sum(len(phrase) for clause in clauses for phrase in clause) + sum(
        len(phrase) for phrase in (*excluded, *sources, *not_sources)
    )
    if not clauses and not sources:
        if excluded or not_sources:
            raise TopicError(
                N_(
                    "That topic only says what to leave out. Add a word to look for, "
                    "as in: ukraine -sports"
                )
            )
        raise TopicError(
            N_(
                "That topic has no words to search for (only symbols or emoji). Try for example: "
                'ukraine, "peace talks", ceasefire OR truce, ukraine -sports'
            )
        )
    if terms > MAX_TOPIC_TERMS:
        raise TopicError(
            # Translators: {count} is how many words (and excluded words and sources) the topic
            # has, more than {limit}, the most a topic may have (20).
            N_plural(
                "That topic has {count} word; use at most {limit}.",
                "That topic has {count} words; use at most {limit}.",
            ),
            count=terms,
            limit=MAX_TOPIC_TERMS,
        )
    searched = [" OR ".join(_render(phrase) for phrase in clause) for clause in clauses]
    left_out = ["-" + _render(phrase) for phrase in excluded]
    outlets = ["source:" + _render(phrase) for phrase in sources]
    outlets += ["-source:" + _render(phrase) for phrase in not_sources]
    # An outlet's topic reads best with the outlet first: `source:bbc -sports`.
    parts = searched + left_out + outlets if clauses else outlets + left_out
    language = _written_in(items)
    everywhere, own = _excluded(excluded, language)
    return Topic(
        text=" ".join(parts),
        required=tuple(
            frozenset().union(*(_alternatives(phrase) for phrase in clause)) for clause in clauses
        ),
        excluded=everywhere,
        sources=tuple(sources),
        excluded_sources=tuple(not_sources),
        language=language,
        excluded_in_language=own,
    )


def source_term(name: str) -> str:
    """The `source:` term that names the source called `name`, in normal form
    (`BBC News` → `source:"bbc news"`); empty when the name has no words to match."""
    found = tuple(dict.fromkeys(words(name)))
    return "source:" + _render(found) if found else ""
