"""Reading feed bytes into story drafts. The only module that imports feedparser.

feedparser is given bytes and the response's headers, never a URL, so it never fetches anything
itself; its failures become `ParseError`. Each entry is normalised here: plain-text summary,
canonical absolute link, a publication time that is never missing nor in the future.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from news.analysis import base_language, document_terms
from news.errors import ParseError
from news.text import SUMMARY_LIMIT, canonical_link, cut_at_word, is_web_url, plain_text

# Full-text bodies are trimmed before indexing: the headline and lead carry the topic.
_INDEXED_TEXT_LIMIT = 2_000


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One feed entry, normalised, not yet bound to a source."""

    entry_id: str
    title: str
    summary: str
    link: str
    published_at: datetime
    language: str
    terms: frozenset[str]


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed's title, language and entries."""

    title: str | None
    language: str | None
    entries: list[ParsedEntry]


def _entry_time(entry: Mapping[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
            return min(when, now)
    return now


def _entry_text(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary") or ""
    if not summary:
        for content in entry.get("content") or ():
            if content.get("value"):
                summary = content["value"]
                break
    return plain_text(str(summary))


def _first_sentence(text: str) -> str:
    for mark in (". ", "! ", "? "):
        position = text.find(mark)
        if 0 < position < 150:
            return text[: position + 1]
    return cut_at_word(text, 120)


def _entry_link(entry: Mapping[str, Any], base_url: str) -> str | None:
    candidates = [entry.get("link")]
    candidates += [link.get("href") for link in entry.get("links") or () if link.get("href")]
    for candidate in candidates:
        if candidate:
            absolute = urljoin(base_url, str(candidate).strip())
            if is_web_url(absolute):
                return canonical_link(absolute)
    return None


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    now: datetime,
) -> ParsedFeed:
    """Parse `body` (fetched from `url`) into normalised entries; raise `ParseError` if no feed."""
    response_headers = {key.lower(): value for key, value in (headers or {}).items()}
    response_headers.setdefault("content-location", url)
    try:
        parsed = feedparser.parse(
            body,
            response_headers=response_headers,
            resolve_relative_uris=False,
            sanitize_html=False,
        )
    except Exception as exc:  # feedparser raises many undocumented types on hostile input
        raise ParseError(f"the feed could not be read: {exc}") from exc
    if not parsed.entries and not parsed.feed.get("title"):
        problem = parsed.get("bozo_exception")
        if not body.strip():
            raise ParseError("the answer was empty", kind="empty")
        if body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            raise ParseError("that page is HTML, not a feed", kind="html")
        raise ParseError(f"not a feed ({problem or 'no entries'})")
    language = parsed.feed.get("language") or None
    lang = base_language(language)
    entries = []
    for entry in parsed.entries:
        link = _entry_link(entry, url)
        text = _entry_text(entry)
        title = plain_text(str(entry.get("title") or "")) or _first_sentence(text)
        if not title and not text:
            continue
        entry_id = (
            str(entry.get("id") or "").strip()
            or link
            or hashlib.sha256((title + text).encode()).hexdigest()
        )
        entries.append(
            ParsedEntry(
                entry_id=entry_id[:1000],
                title=cut_at_word(title, 500),
                summary=cut_at_word(text, SUMMARY_LIMIT),
                link=link or "",
                published_at=_entry_time(entry, now),
                language=lang,
                terms=frozenset(document_terms(f"{title} {text[:_INDEXED_TEXT_LIMIT]}", lang)),
            )
        )
    feed_title = plain_text(str(parsed.feed.get("title") or "")) or None
    return ParsedFeed(title=feed_title, language=language, entries=entries)
