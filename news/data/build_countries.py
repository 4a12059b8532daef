"""Regenerate countries.tsv: every country's names and demonyms, in the languages Newsbot stems.

    .venv/bin/pip install countryinfo babel && .venv/bin/python news/data/build_countries.py

Sources, both maintained and versioned on PyPI:
- `countryinfo` (data from the REST Countries project): each country's English name, its other
  spellings and its English demonym ("Ukrainian").
- `babel` (the Unicode CLDR): the country's name in German, French, Spanish, Russian and Ukrainian,
  and, where a language is named after the people ("Ukrainian" is both), that language's name in
  all six languages ("ukrainien", "Ukrainisch", "ucraniano", "украинский", "українська"), which is
  the demonym adjective there. The language must be the country's own by CLDR's likely-territory
  data and its English name must equal the English demonym, so "English" never stands for the US.

The few hand decisions are the lists below, each with its reason.
"""

from __future__ import annotations

import json
import unicodedata
from importlib.metadata import version
from pathlib import Path

import countryinfo
from babel import Locale
from babel.core import get_global

LANGUAGES = ("en", "de", "fr", "es", "ru", "uk")
OUTPUT = Path(__file__).with_name("countries.tsv")

# Other spellings that are codes are left out ("CAN", "AND", "ARE" are words), except these,
# which newspapers write as names.
KEPT_CODES = {"USA", "UK", "UAE"}
# Names that are everyday words in a language Newsbot reads: Russian/Ukrainian "того" ("of that")
# is Togo, Ukrainian "малі"/"мали" ("small"/"had") is Mali. The country stays findable by its
# other names.
COMMON_WORDS = {"того", "малі", "мали"}


def _plain(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _latin(text: str) -> bool:
    return all(ord(ch) < 0x250 or not ch.isalpha() for ch in text)


def _countries() -> list[dict[str, object]]:
    folder = Path(countryinfo.__file__).parent / "data"
    return [json.loads(path.read_text("utf-8")) for path in sorted(folder.glob("*.json"))]


def main() -> None:
    locales = {language: Locale(language) for language in LANGUAGES}
    likely = get_global("likely_subtags")
    language_of: dict[str, list[str]] = {}
    for code in map(str, locales["en"].languages):
        subtags = str(likely.get(code, "")).split("_")
        if len(code) == 2 and len(subtags) == 3:
            language_of.setdefault(subtags[2], []).append(code)

    rows: set[tuple[str, str, str]] = set()
    for country in _countries():
        iso = country.get("ISO")
        if not isinstance(iso, dict) or not country.get("name"):
            continue
        alpha2 = str(iso["alpha2"])
        if alpha2 not in locales["en"].territories:
            continue
        codes = {alpha2, str(iso["alpha3"])}
        forms = {("en", str(country["name"]))}
        demonym = str(country.get("demonym") or "")
        if demonym:
            forms.add(("en", demonym))
        for spelling in country.get("altSpellings") or []:  # type: ignore[attr-defined]
            if (spelling not in codes or spelling in KEPT_CODES) and _latin(spelling):
                forms.add(("en", str(spelling)))
        for language, locale in locales.items():
            forms.add((language, locale.territories[alpha2]))
            for spoken in language_of.get(alpha2, []):
                if demonym and locales["en"].languages.get(spoken) == demonym:
                    forms.add((language, locale.languages[spoken]))
        for language, form in forms:
            if form.casefold() not in COMMON_WORDS and len(form) > 1:
                rows.add((alpha2, language, _plain(form)))

    header = [
        "# Country names and demonyms by ISO 3166 code and language. Generated, do not edit:",
        "# news/data/build_countries.py rebuilds it from",
        f"# countryinfo {version('countryinfo')} and babel {version('babel')}"
        " (Unicode CLDR); see the script for the rules.",
    ]
    lines = ["\t".join(row) for row in sorted(rows)]
    OUTPUT.write_text("\n".join(header + lines) + "\n", "utf-8")
    print(f"{len(lines)} names of {len({row[0] for row in rows})} countries → {OUTPUT}")


if __name__ == "__main__":
    main()
