"""The bot's texts in its readers' languages: gettext catalogs made and compiled with Babel.

Every text a person reads in Telegram is written in the code in English and marked for
translation: `texts._("...")`, `texts.ngettext("...", "...", n)` for a text with a number,
`texts.pgettext(context, "...")` for a short text whose translation depends on where it stands
("off" for quiet hours or for link previews), and `news.errors.N_("...")` (`N_plural` for one
with a number) for the domain's texts that reach users (topic errors), translated where they
are shown. A `# Translators:` comment on the line before a marked text says what each of its
placeholders holds and where a short label appears; `make i18n` extracts the marked texts and
these comments (`pybabel extract`, configured in `babel.cfg`) into a template
(`build/newsbot.pot`, not kept), merges them into each language's catalog
`handlers/locales/<lang>/LC_MESSAGES/newsbot.po` and compiles the `.mo` files beside them. The
`.mo` files are committed, so an install needs no build step; a test fails when one is not the
compilation of its `.po`, when a text lacks a translation or a translation breaks a placeholder
or Telegram's HTML, and when a text with a placeholder has no translator comment.

Placeholders are named, `{topic}`, and filled after translation, so a translation may move them;
the values are escaped by the caller where the text is HTML. A number in a sentence goes
through `ngettext`, which picks the catalog's plural form (Ukrainian and Russian have three) and
fills `{count}`. Dates are written by CLDR skeletons, so each language orders and punctuates
them its own way.

Which language: `language_for(code)` maps a Telegram `language_code` ("uk", "pt-br") to a shipped
language by its base ("pt"), and anything else to English.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_decimal

from news.errors import TopicError
from news.topics import base_language

DOMAIN = "newsbot"
LOCALE_DIR = Path(__file__).parent / "locales"
#: The source language, the one every text is written in.
DEFAULT_LANGUAGE = "en"
#: Every language the bot speaks; English first.
LANGUAGES = ("en", "uk", "ru", "de", "fr", "es")
#: How a date older than a month is written: year, abbreviated month and day, in the order and
#: punctuation of the reader's language (a CLDR skeleton).
OLD_DATE_SKELETON = "yMMMd"


def language_for(code: str | None) -> str:
    """The shipped language for a Telegram `language_code`: "uk" → "uk", "pt-BR" → "en"."""
    base = base_language(code)
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True, slots=True)
class Texts:
    """The bot's texts in one language."""

    language: str
    catalog: gettext.NullTranslations
    locale: Locale

    def _(self, message: str, /, **params: object) -> str:
        """`message` translated, its `{name}` placeholders filled from `params`."""
        translated = self.catalog.gettext(message)
        return translated.format(**params) if params else translated

    def pgettext(self, context: str, message: str, /, **params: object) -> str:
        """`message` as meant in `context` (one English word, two meanings), translated."""
        translated = self.catalog.pgettext(context, message)
        return translated.format(**params) if params else translated

    def ngettext(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """The form of the text for `count` (the language's plural rule), `{count}` filled."""
        return self.catalog.ngettext(singular, plural, count).format(
            count=self.number(count), **params
        )

    def topic_error(self, error: TopicError) -> str:
        """Why a topic cannot be understood, translated (in the number's form, when it has one)."""
        if error.plural is None:
            return self._(error.template, **error.params)
        params = dict(error.params)
        count = int(params.pop("count"))
        return self.ngettext(error.template, error.plural, count, **params)

    def number(self, value: int) -> str:
        """An integer as the language writes it: "6,451", "6.451", "6 451"."""
        if -1000 < value < 1000:
            # Plain digits in every language the bot speaks; skipping babel here spares loading
            # the locale's CLDR data to say "12 min ago".
            return str(value)
        return format_decimal(value, locale=self.locale)

    def age(self, published: datetime, now: datetime) -> str:
        """How long ago, as a news card says it: "just now", "12 min ago", "2 days ago"."""
        delta = now - published
        if delta < timedelta(minutes=1):
            # Translators: a story's age on a news card, after its outlet: "BBC · just now".
            return self._("just now")
        if delta < timedelta(hours=1):
            minutes = int(delta.total_seconds() // 60)
            # Translators: a story's age on a news card, after its outlet: "BBC · 12 min ago";
            # {count} is the number of minutes (1–59). Keep it short.
            return self.ngettext("{count} min ago", "{count} min ago", minutes)
        if delta < timedelta(days=1):
            hours = int(delta.total_seconds() // 3600)
            # Translators: a story's age on a news card: "BBC · 3 h ago"; {count} is the number
            # of hours (1–23). Keep it short.
            return self.ngettext("{count} h ago", "{count} h ago", hours)
        if delta.days < 30:
            # Translators: a story's age on a news card: "BBC · 2 days ago"; {count} is the
            # number of days (1–29). Older stories show their date instead.
            return self.ngettext("{count} day ago", "{count} days ago", delta.days)
        # A CLDR skeleton, not a fixed pattern: each language orders and punctuates the day,
        # month and year its own way ("Nov 16, 2024", "16. Nov. 2024", "16 лист. 2024 р.").
        return format_skeleton(OLD_DATE_SKELETON, published, locale=self.locale)


@cache
def texts_in(language: str) -> Texts:
    """The texts in a shipped language (a `LANGUAGES` code); a missing catalog is an error.

    English is the language of the code itself and has no catalog to read.
    """
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for language {language!r}; shipped: {LANGUAGES}")
    catalog = (
        gettext.NullTranslations()
        if language == DEFAULT_LANGUAGE
        else gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])
    )
    return Texts(language, catalog, Locale.parse(language))


def texts_for(code: str | None) -> Texts:
    """The texts for a reader whose Telegram `language_code` is `code`; English when unknown."""
    return texts_in(language_for(code))


def english() -> Texts:
    """The source texts, wherever nobody's language is known (the CLI prints plain English of
    its own, `bot.terminal`)."""
    return texts_in(DEFAULT_LANGUAGE)
