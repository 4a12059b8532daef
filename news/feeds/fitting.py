"""Fitting what feeds and feed servers say to what storage keeps, before it reaches storage.

A feed is written by a stranger. Whatever it carries must fit the schema on every backend, or
one feed's row fails the transaction that stores the whole tick (PostgreSQL refuses what SQLite
lets pass). So, in the domain and before any write:

- text loses the characters no database encoding can hold: NUL (PostgreSQL's text refuses it)
  and lone UTF-16 surrogates (not encodable as UTF-8);
- lengths are capped at a character boundary to their columns; values that mean nothing when
  cut (a link, a URL, an ETag) are dropped instead, and an entry id too long to keep is replaced
  by its hash, so two long ids that share a prefix stay two stories;
- a language is a BCP 47-like tag ("en", "pt-BR") or a known language name ("English"), else
  unknown (and then guessed from the text);
- a publication time before `EARLIEST` (a year-1 date, an epoch of 0) is no date at all;
- numbers in headers and feeds (`ttl`, `max-age`, `Retry-After`, `sy:updateFrequency`,
  `Content-Length`) are plain ASCII digits, clamped to a maximum; anything else ("1e17", "²",
  "-5") is ignored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime

from news.model import PollRecord, StoryDraft

#: Column sizes of the schema (`storage.tables`), which fitting keeps within.
URL_LIMIT = 2048
ENTRY_ID_LIMIT = 1000
LANGUAGE_LIMIT = 16
SOURCE_TITLE_LIMIT = 500
ETAG_LIMIT = 500
LAST_MODIFIED_LIMIT = 100
ERROR_KIND_LIMIT = 50
#: The longest error message kept for a source (the column is unbounded; a screenful is enough).
ERROR_LIMIT = 1000
#: News feeds did not exist before this; an earlier date is a placeholder, not a date.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)

_REFUSED = re.compile("[\x00\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]+")
# A language tag as BCP 47 shapes it: a 2-3 letter language, then subtags of 1-8 letters/digits.
_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")
# Language names some feeds give instead of a code, in English and in the language itself.
_NAMES_OF_LANGUAGES = {
    "en": ("english",),
    "de": ("german", "deutsch"),
    "fr": ("french", "français", "francais"),
    "es": ("spanish", "español", "espanol"),
    "it": ("italian", "italiano"),
    "pt": ("portuguese", "português", "portugues"),
    "nl": ("dutch", "nederlands"),
    "pl": ("polish", "polski"),
    "ru": ("russian", "русский"),
    "uk": ("ukrainian", "українська"),
}
_LANGUAGE_NAMES = {name: code for code, names in _NAMES_OF_LANGUAGES.items() for name in names}


def clean_text(text: str) -> str:
    """`text` without the characters no database can store (NUL, lone surrogates)."""
    return _REFUSED.sub("", text)


def fit_text(text: str, limit: int) -> str:
    """`text` cleaned and cut to at most `limit` characters."""
    return clean_text(text)[:limit]


def fit_whole(text: str | None, limit: int) -> str | None:
    """`text` cleaned if it fits in `limit` characters; None when empty or too long to keep."""
    if text is None:
        return None
    cleaned = clean_text(text).strip()
    return cleaned if cleaned and len(cleaned) <= limit else None


def fit_entry_id(entry_id: str) -> str:
    """An entry id that fits its column: cleaned, and hashed when it is too long."""
    cleaned = clean_text(entry_id)
    if len(cleaned) <= ENTRY_ID_LIMIT:
        return cleaned
    return "sha256:" + hashlib.sha256(cleaned.encode()).hexdigest()


def fit_language(value: str | None) -> str | None:
    """A language tag, lower-cased ("en-us"), from a tag or a known name; None otherwise."""
    if not value:
        return None
    text = clean_text(value).strip().lower().replace("_", "-")
    if len(text) <= LANGUAGE_LIMIT and _TAG.fullmatch(text):
        return text
    return _LANGUAGE_NAMES.get(text)


def plausible_time(moment: datetime | None) -> datetime | None:
    """`moment` unless it is too early to be a real publication date."""
    if moment is None or moment < EARLIEST:
        return None
    return moment


def bounded_int(text: str | None, *, maximum: int) -> int | None:
    """A count or duration written as plain ASCII digits, at most `maximum`; else None."""
    if text is None:
        return None
    digits = text.strip()
    if not _DIGITS.fullmatch(digits):
        return None
    # Over 18 digits it is past any maximum, and int() of thousands of digits is refused.
    return maximum if len(digits) > 18 else min(int(digits), maximum)


def fit_draft(draft: StoryDraft) -> StoryDraft:
    """A story draft every backend stores as it is."""
    if (
        len(draft.entry_id) <= ENTRY_ID_LIMIT
        and len(draft.link) <= URL_LIMIT
        and (draft.image_url is None or len(draft.image_url) <= URL_LIMIT)
        and len(draft.language) <= 3
        and draft.language.isascii()
        and draft.language.isalpha()
        and draft.language.islower()
        and not any(_REFUSED.search(text) for text in _texts(draft))
    ):
        return draft  # the usual case, checked cheaply: parsing has cleaned the text already
    link = fit_whole(draft.link, URL_LIMIT) or ""
    return replace(
        draft,
        entry_id=fit_entry_id(draft.entry_id),
        title=clean_text(draft.title),
        summary=clean_text(draft.summary),
        link=link,
        language=fit_language(draft.language) or "en",
        # Terms are made of word characters only (`news.topics.analysis.words`): nothing to clean.
        body=clean_text(draft.body),
        image_url=fit_whole(draft.image_url, URL_LIMIT),
    )


def _texts(draft: StoryDraft) -> tuple[str, ...]:
    return (
        draft.entry_id,
        draft.title,
        draft.summary,
        draft.link,
        draft.body,
        draft.image_url or "",
    )


def fit_record(record: PollRecord) -> PollRecord:
    """A poll's record of its source that every backend stores as it is."""
    return replace(
        record,
        title=fit_text(record.title or "", SOURCE_TITLE_LIMIT).strip() or None,
        etag=fit_whole(record.etag, ETAG_LIMIT),
        last_modified=fit_whole(record.last_modified, LAST_MODIFIED_LIMIT),
        url=fit_whole(record.url, URL_LIMIT),
        # Kinds are Newsbot's own tags ("http-503"); only their length is checked.
        error_kind=record.error_kind and record.error_kind[:ERROR_KIND_LIMIT],
        error=fit_text(record.error, ERROR_LIMIT),
    )
