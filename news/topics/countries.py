"""Countries and their demonyms: `ukraine` finds "Ukrainian", "Україна" and "ukrainien" too.

The table `news/data/countries.tsv` lists, per ISO 3166 code, the country's names and demonyms in
English, German, French, Spanish, Russian and Ukrainian; `news/data/build_countries.py` generates
it from countryinfo (REST Countries) and babel (Unicode CLDR). A topic word or phrase that is one
of a country's names, in the form a stemmer gives it in that name's language, stands for all of
them. Only whole names count: `guinea` is Guinea, never "Papua New Guinea".

Stemming and lemmatising every name takes long and loads the Russian and Ukrainian
dictionaries, which a command such as `newsbot latest ukraine` would pay at every start: the
table is built on first use and cached on disk (`$XDG_CACHE_HOME/newsbot`, else
`~/.cache/newsbot`), under a key made of the table, the analyser's code and the stemmer and
dictionary versions, so that any change to what the table would hold builds it afresh. Where
the cache cannot be read or written, the table is built in memory as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from news.topics.analysis import Phrase, phrase_in, strip_accents, topic_languages, words

#: The longest country name, in words, that a topic's plain words are searched for.
MAX_NAME_WORDS = 5


def cut_to_everyday_stem(form: Phrase, name: Phrase) -> bool:
    """Whether stemming cut a word of `name` to a stem short enough to be an everyday word's.

    Snowball treats names like any word: Spanish "París" becomes "par", as "para" does,
    "Teherán" "teh", "Canadá" "can" and Italian "Maputo" "map". Such a form would match
    everywhere ("Prices can rise" for `canada`), so a name keeps only its other forms.
    """
    return any(
        len(term) < 4 and term != strip_accents(word) for term, word in zip(form, name, strict=True)
    )


def _stemmed(name: Phrase, language: str) -> frozenset[Phrase]:
    """The name's terms in `language`, but none cut to an everyday stem (`cut_to_everyday_stem`):
    only the bare name is kept then."""
    return frozenset(
        form for form in phrase_in(name, language) if not cut_to_everyday_stem(form, name)
    )


Table = tuple[dict[str, frozenset[Phrase]], dict[tuple[str, Phrase], frozenset[str]]]
# What the table's terms depend on besides the table itself.
_ANALYSER_SOURCES = ("analysis.py", "countries.py")
_ANALYSER_PACKAGES = ("snowballstemmer", "pymorphy3", "pymorphy3-dicts-ru", "pymorphy3-dicts-uk")


@cache
def _table() -> Table:
    """Per country, every term sequence it may appear as; per (language, terms), its countries."""
    text = resources.files("news").joinpath("data/countries.tsv").read_text("utf-8")
    try:
        path = _cache_path(text)
    except (OSError, RuntimeError):  # sources not files (a zipped install), no home: no cache
        return _build(text)
    cached = _read(path)
    if cached is not None:
        return cached
    table = _build(text)
    _write(path, table)
    return table


def _cache_path(text: str) -> Path:
    key = hashlib.sha256(text.encode())
    for name in _ANALYSER_SOURCES:
        key.update((Path(__file__).parent / name).read_bytes())
    for package in _ANALYSER_PACKAGES:
        try:
            key.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            key.update(f"{package}=none".encode())
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "newsbot" / f"countries-{key.hexdigest()[:24]}.json"


def _read(path: Path) -> Table | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        alternatives = {
            code: frozenset(tuple(form) for form in forms)
            for code, forms in data["alternatives"].items()
        }
        codes = {
            (language, tuple(form)): frozenset(found) for language, form, found in data["codes"]
        }
    except (OSError, ValueError, KeyError, TypeError):  # absent, or damaged: build it again
        return None
    return alternatives, codes


def _write(path: Path, table: Table) -> None:
    alternatives, codes = table
    data = {
        "alternatives": {code: sorted(forms) for code, forms in alternatives.items()},
        "codes": [[language, form, sorted(found)] for (language, form), found in codes.items()],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a process reading meanwhile sees the whole file or none.
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False
        ) as file:
            try:
                json.dump(data, file, ensure_ascii=False)
            except BaseException:
                os.unlink(file.name)
                raise
        os.replace(file.name, path)
    except OSError:  # a read-only or full disk: the next start builds the table again
        return


def _build(text: str) -> Table:
    alternatives: dict[str, set[Phrase]] = {}
    codes: dict[tuple[str, Phrase], set[str]] = {}
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


@cache
def _name_languages() -> dict[Phrase, frozenset[str]]:
    """Per country name or demonym as typed (case-folded, accent-free words), its languages."""
    text = resources.files("news").joinpath("data/countries.tsv").read_text("utf-8")
    found: dict[Phrase, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            _, language, name = line.split("\t")
            key = tuple(strip_accents(word) for word in words(name))
            found.setdefault(key, set()).add(language)
    return {key: frozenset(languages) for key, languages in found.items()}


def name_languages(phrase: Phrase) -> frozenset[str]:
    """The languages in which `phrase` (case-folded words) is a country's name or demonym as it
    is written: `ucrania` → {"es"}, `ukraine` → {"en", "de", "fr"}; empty for any other words."""
    return _name_languages().get(tuple(strip_accents(word) for word in phrase), frozenset())
