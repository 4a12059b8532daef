"""Regenerate countries.tsv: every country's names and demonyms, in the languages Newsbot stems.

    .venv/bin/pip install countryinfo babel && .venv/bin/python news/data/build_countries.py

Sources, both maintained and versioned on PyPI:
- `countryinfo` (data from the REST Countries project): each country's English name, its other
  spellings and its English demonym ("Ukrainian").
- `babel` (the Unicode CLDR), in German, French, Spanish, Russian and Ukrainian:
  - the country's name;
  - where a language is named after the people ("Ukrainian" is both), that language's name
    ("ukrainien", "Ukrainisch", "ucraniano", "украинский", "українська"), which is the demonym
    adjective there. The language must be the country's own by CLDR's likely-territory data and
    its English name must equal the English demonym, so "English" never stands for the US;
  - the adjective in the name of the country's own currency ("iranien" in "riyal iranien",
    "российский" in "российский рубль", "США" in "доллар США"): the words of the currency's
    name that no other currency's name has, nor the country's name. The currency must be named
    after the country in English ("Iranian Rial", "US Dollar"), so Ecuador's dollar is not;
  - the capital (countryinfo's), named in each language as CLDR names it as a time-zone city
    ("Kyiv", "Kiew", "Киев", "Київ"), for news that says "Kyiv" or "Moscow" for a government.

The few hand decisions are the lists below, each with its reason.
"""

from __future__ import annotations

import json
import re
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
MAX_SPELLING_WORDS = 3
# Names that are everyday words in a language Newsbot reads: Russian/Ukrainian "того" ("of that")
# is Togo, Ukrainian "малі"/"мали" ("small"/"had") is Mali. The country stays findable by its
# other names.
COMMON_WORDS = {"того", "малі", "мали"}
# Capitals that are first names or ordinary words, or name several places: left out.
AMBIGUOUS_CAPITALS = {
    "Male",
    "Victoria",
    "Hamilton",
    "Kingston",
    "Georgetown",
    "Praia",
    "Saint John's",
}


def _plain(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _latin(text: str) -> bool:
    return all(ord(ch) < 0x250 or not ch.isalpha() for ch in text)


def _countries() -> list[dict[str, object]]:
    folder = Path(countryinfo.__file__).parent / "data"
    return [json.loads(path.read_text("utf-8")) for path in sorted(folder.glob("*.json"))]


def _city(locale: Locale, zone: str) -> str:
    """The zone's city as `locale` names it; CLDR may file the names under an older zone id."""
    aliases = [zone] + [old for old, new in get_global("zone_aliases").items() if new == zone]
    for name in aliases:
        city = locale.time_zones.get(name, {}).get("city")
        if city:
            return str(city)
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def _current_currencies() -> dict[str, list[str]]:
    """Per territory, the currencies that are legal tender there today."""
    return {
        territory: [code for code, _, end, tender in currencies if tender and end is None]
        for territory, currencies in get_global("territory_currencies").items()
    }


def _currency_words(
    locales: dict[str, Locale], countries: list[dict[str, object]]
) -> dict[tuple[str, str], set[str]]:
    """Per (country, language), the words naming the country in its currency's name."""
    names: dict[str, tuple[str, set[str]]] = {}
    for country in countries:
        iso = country.get("ISO")
        if isinstance(iso, dict) and country.get("name"):
            spelled = {str(country["name"]), str(country.get("demonym") or "")}
            spelled |= {str(s) for s in country.get("altSpellings") or []}  # type: ignore[attr-defined]
            names[str(iso["alpha2"])] = (str(country["name"]), spelled - {""})
    found: dict[tuple[str, str], set[str]] = {}
    current = _current_currencies()
    in_use = {code for codes in current.values() for code in codes}
    for language, locale in locales.items():
        seen: dict[str, set[str]] = {}
        for code, name in locale.currencies.items():
            if code in in_use:
                for word in set(name.casefold().replace("-", " ").split()):
                    seen.setdefault(word, set()).add(code)
        for alpha2, (_, spelled) in names.items():
            for code in current.get(alpha2, ()):
                english = locales["en"].currencies.get(code, "")
                if not any(part in english.split() for part in spelled):
                    continue
                territory = set(
                    locale.territories.get(alpha2, "").casefold().replace("-", " ").split()
                )
                for word in locale.currencies.get(code, "").replace("-", " ").split():
                    folded = word.casefold()
                    if seen.get(folded) == {code} and folded not in territory and len(word) > 2:
                        found.setdefault((alpha2, language), set()).add(word)
    return found


def main() -> None:
    locales = {language: Locale(language) for language in LANGUAGES}
    likely = get_global("likely_subtags")
    language_of: dict[str, list[str]] = {}
    for code in map(str, locales["en"].languages):
        subtags = str(likely.get(code, "")).split("_")
        if len(code) == 2 and len(subtags) == 3:
            language_of.setdefault(subtags[2], []).append(code)

    countries = _countries()
    currency_words = _currency_words(locales, countries)
    zones = get_global("territory_zones")
    rows: set[tuple[str, str, str]] = set()
    population: dict[str, int] = {}
    for country in countries:
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
            # Long official names ("People's Republic of China") add nothing that the short
            # name does not find, and phrases of common words are slow to search.
            short = len(str(spelling).split()) <= MAX_SPELLING_WORDS
            if (spelling not in codes or spelling in KEPT_CODES) and _latin(spelling) and short:
                forms.add(("en", str(spelling)))
        for language, locale in locales.items():
            forms.add((language, locale.territories[alpha2]))
            for spoken in language_of.get(alpha2, []):
                if demonym and locales["en"].languages.get(spoken) == demonym:
                    forms.add((language, locale.languages[spoken]))
            forms |= {(language, word) for word in currency_words.get((alpha2, language), ())}
        capital = re.sub(r",?\s+(?:[A-Z]\.)+$", "", str(country.get("capital") or ""))
        if capital and capital not in AMBIGUOUS_CAPITALS and "/" not in capital:
            forms.add(("en", capital))
            for zone in zones.get(alpha2, ()):
                if _city(locales["en"], zone) == capital:
                    forms |= {
                        (language, _city(locale, zone)) for language, locale in locales.items()
                    }
        for language, form in forms:
            if form.casefold() not in COMMON_WORDS and len(form) > 1:
                rows.add((alpha2, language, _plain(form)))
        population[alpha2] = int(str(country.get("population") or 0))

    # A name several territories share ("Chinese": China, Hong Kong, Macau) is the most
    # populous one's.
    owners: dict[tuple[str, str], str] = {}
    for alpha2, language, form in sorted(rows, key=lambda row: -population.get(row[0], 0)):
        owners.setdefault((language, form.casefold()), alpha2)
    rows = {row for row in rows if owners[(row[1], row[2].casefold())] == row[0]}

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
