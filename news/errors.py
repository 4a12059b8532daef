"""The one exception tree of the news domain.

    NewsbotError
    ├── ConfigError          a setting is missing or malformed (names the variable)
    ├── TopicError           a topic a user typed cannot be understood (says why)
    ├── SourceError          a source URL or sources file is unusable
    ├── StorageError         the database refused or failed a storage call
    └── FeedError            one feed could not be fetched or read
        ├── FetchError       network, HTTP status, size cap, redirects
        └── ParseError       the bytes are not a feed we can read
    ArticleUnavailable       a story's web page gave no article text (`news.articles`)

Third-party errors (aiohttp, feedparser, the database drivers) are translated at the boundary
where they arise: `raise FetchError(...) from exc`; storage does the same for every error of the
database (`StorageError`), so no layer above it needs to know SQLAlchemy's exceptions.
Expected per-feed failures become values (`PollOutcome`), not crashes; anything else is a bug
and reaches the application's error handler.

A `FeedError`'s `kind` is an `ErrorKind`: one of a fixed set of tags, or `http-<status>` for an
HTTP error (made by `http_error_kind`), so a mistyped tag fails the type check.
"""

from __future__ import annotations

import re
from typing import Literal, NewType


def N_(message: str) -> str:
    """Mark `message` as a text users read, to be translated where it is shown (`handlers.i18n`).

    The domain speaks no language of its own: it names the English text, and the handlers, which
    know who is reading, translate it.
    """
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Mark a text with a number in it (`{count}`), in its English singular and plural, to be
    translated where it is shown in the form the reader's language wants for the number
    (`handlers.i18n.Texts.ngettext`; Ukrainian and Russian have three)."""
    return singular, plural


# A URL's password: after the colon that follows its user name (not the scheme's, followed by
# "//"), up to the "@" before its host. Also in a URL missing its "//" ("postgresql/u:pw@h").
_URL_PASSWORD = re.compile(r":(?!//)[^\s@]*@")


def without_passwords(text: str) -> str:
    """`text` with the password of any URL in it shown as `***`: `postgresql://u:***@host/db`.

    For every message that quotes a `DATABASE_URL` (or any URL a user gave), since such messages
    reach terminals and logs.
    """
    return _URL_PASSWORD.sub(":***@", text)


#: `http-<status>`, e.g. "http-404"; made only by `http_error_kind`.
HttpErrorKind = NewType("HttpErrorKind", str)
ErrorKind = (
    Literal[
        "feed",  # the base tag of FeedError
        "fetch",  # the base tag of FetchError
        "parse",  # the base tag of ParseError
        "url",
        "private-address",
        "connect",
        "network",
        "timeout",
        "redirect",
        "redirect-loop",
        "too-many-redirects",
        "too-large",
        "encoding",
        "html",
        "not-a-feed",
        "content-type",  # the answer is not of a type the caller accepts (an article's page)
        "empty",
        "storage",  # the poll was read but storage failed to keep it
        "internal",  # a bug while reading or polling the feed
    ]
    | HttpErrorKind
)


def http_error_kind(status: int) -> HttpErrorKind:
    """The kind of an HTTP error answer: `http-<status>`."""
    return HttpErrorKind(f"http-{status}")


class NewsbotError(Exception):
    """Base of every error Newsbot raises on purpose."""


class ConfigError(NewsbotError):
    """A setting is missing or malformed; the message names the variable."""


class TopicError(NewsbotError):
    """A topic cannot be understood; the message says what is wrong, for the user.

    `template` is the English text with `{name}` placeholders, marked with `N_` so that it is
    extracted into the bot's translation catalogs; `params` fill them. A text with a number is
    marked with `N_plural` and given as its (singular, plural) pair, its number as the `count`
    param. `str(error)` is the English text (the CLI prints it); the bot shows the template
    translated, then filled.
    """

    def __init__(self, template: str | tuple[str, str], **params: int | str) -> None:
        singular, plural = (template, None) if isinstance(template, str) else template
        english = singular if plural is None or params.get("count") == 1 else plural
        super().__init__(english.format(**params))
        self.template = singular
        self.plural = plural
        self.params = params


class SourceError(NewsbotError):
    """A source URL or a sources file cannot be used."""


class StorageError(NewsbotError):
    """The database refused or failed a storage call: locked, unreachable, full, or a constraint.

    The message is the database's own first line; the driver's exception is the `__cause__`.
    A bug in a query is not one: SQLAlchemy's complaints about a statement pass unchanged.
    """


class FeedError(NewsbotError):
    """One feed could not be fetched or read. `kind` is a short machine-readable tag."""

    kind: ErrorKind = "feed"

    def __init__(self, message: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class FetchError(FeedError):
    """The feed could not be fetched: network failure, HTTP error, size cap, redirect trouble."""

    kind: ErrorKind = "fetch"


class ParseError(FeedError):
    """The fetched bytes are not a feed Newsbot can read."""

    kind: ErrorKind = "parse"
