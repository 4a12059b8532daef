"""Reading feed bytes into story drafts. The only module that imports feedparser.

feedparser is given bytes and the response's headers (content type, final URL), never a URL, so
it never fetches anything itself; the DOCTYPE is removed first (`news.feeds.safety`), and its
failures become `ParseError`. A "bozo" feed that still yields entries is used. JSON Feed is read by
`news.feeds._jsonfeed`. Each entry is normalised here, for both paths alike: a title (else the first
sentence), a plain-text summary, a canonical absolute http(s) link, a publication time that is
never missing, implausibly old nor in the future, and the feed's language (else a guess).

The DOCTYPE is removed after the bytes are decoded the way feedparser decodes them (its own
`convert_to_utf8`: byte order marks, EBCDIC, the HTTP charset, the XML declaration, fallbacks),
so no encoding feedparser accepts can hide a DOCTYPE from `strip_doctype`; feedparser then gets
the UTF-8 document.

`parse_feed` raises nothing but `ParseError`: a failure nobody foresaw in a third-party parser or
here becomes one of kind "internal" (the fuzz tests look for that kind).
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser
from feedparser.encodings import convert_to_utf8

from news.errors import ParseError
from news.feeds._jsonfeed import RawFeed, RawItem, looks_like_json, read_json_feed
from news.feeds._language import guess_language
from news.feeds.fitting import bounded_int, clean_text, fit_draft, fit_language, plausible_time
from news.feeds.images import first_image, is_image, media_images, story_image
from news.feeds.safety import strip_doctype
from news.feeds.text import (
    BODY_LIMIT,
    SUMMARY_LIMIT,
    canonical_link,
    cut_at_word,
    is_teaser,
    is_web_url,
    plain_text,
)
from news.model import StoryDraft
from news.topics import base_language, document_terms

_XML_BASE = re.compile(rb"base\s*=", re.IGNORECASE)
_ID_ELEMENT = re.compile(rb"<(?:[\w.-]+:)?id[\s>/]", re.IGNORECASE)
_GUID = re.compile(rb"<(?:[\w.-]+:)?guid\b([^>]*)>", re.IGNORECASE)
# feedparser treats a guid as a permalink unless its isPermaLink is anything but "true".
_NOT_PERMALINK = re.compile(rb"\bispermalink\s*=\s*([\"'])(?!true\1)", re.IGNORECASE)
# Full-text bodies are trimmed before indexing: the headline and lead carry the topic.
_INDEXED_TEXT_LIMIT = 2_000
# Bounds of the feed's own polling hints: past these they mean "rarely", which the ceiling caps.
_MAX_TTL_MINUTES = 1_000_000
_MAX_FREQUENCY = 1_000_000
_SY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One feed entry, normalised, not yet bound to a source."""

    entry_id: str
    title: str
    summary: str
    link: str
    published_at: datetime
    language: str
    terms: tuple[str, ...]
    # The entry's text up to BODY_LIMIT characters when it is longer than the summary, else "".
    body: str = ""
    # The entry's picture (`news.feeds.images`): an absolute http(s) URL, or None.
    image_url: str | None = None

    def draft(self, source_id: int) -> StoryDraft:
        """The entry as a story of `source_id`, fitted to what storage can hold."""
        # Every field of an entry is a field of a story draft, which adds only its source.
        fields = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        return fit_draft(StoryDraft(source_id=source_id, **fields))

    def __reduce__(self) -> tuple[type[ParsedEntry], tuple[object, ...]]:
        # Entries cross from the parse workers by the ten thousand: pickled as the arguments
        # of their constructor, not through the dataclass's per-object look-up of its fields.
        return (ParsedEntry, tuple(getattr(self, name) for name in _ENTRY_FIELDS))


_ENTRY_FIELDS = tuple(field.name for field in dataclass_fields(ParsedEntry))


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed's title, language, entries, and its own hint of how often to poll it."""

    title: str | None
    language: str | None
    entries: list[ParsedEntry]
    min_interval: timedelta | None = None


def _struct_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _first_sentence(text: str) -> str:
    for mark in (". ", "! ", "? "):
        position = text.find(mark)
        if 0 < position < 150:
            return text[: position + 1]
    return cut_at_word(text, 120)


def _link(candidates: list[str], base_url: str) -> str | None:
    for candidate in candidates:
        if candidate:
            try:
                absolute = urljoin(base_url, candidate.strip())
            except ValueError:
                continue
            if is_web_url(absolute):
                return canonical_link(absolute)
    return None


def _entry_html(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary") or ""
    if not summary:
        for content in entry.get("content") or ():
            if content.get("value"):
                return str(content["value"])
    return str(summary)


def _entry_content(entry: Mapping[str, Any]) -> str:
    """The entry's longest content when it also has a summary (which `_entry_html` gave)."""
    if not entry.get("summary"):
        return ""
    values = [str(content.get("value") or "") for content in _listed(entry, "content")]
    return max(values, key=len, default="")


def _entry_links(entry: Mapping[str, Any]) -> list[str]:
    links = [str(entry.get("link") or "")]
    for link in entry.get("links") or ():
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            links.append(str(link["href"]))
    return [link for link in links if link]


def _listed(entry: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    values = entry.get(key) or ()
    return (
        [value for value in values if isinstance(value, Mapping)]
        if isinstance(values, list)
        else []
    )


def _entry_images(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """What the entry names as its picture, best first (see `news.feeds.images`)."""
    images = media_images(_listed(entry, "media_content"))
    images += [str(item["url"]) for item in _listed(entry, "media_thumbnail") if item.get("url")]
    images += [
        str(item["href"])
        for item in _listed(entry, "enclosures")
        if isinstance(item.get("href"), str)
        and isinstance(item.get("type"), str)
        and is_image(None, item.get("type"), None)
    ]
    for content in (*_listed(entry, "content"), {"value": entry.get("summary")}):
        if isinstance(content.get("value"), str):
            image = first_image(content["value"])
            if image is not None:
                images.append(image)
                break
    return tuple(images)


def _hint(feed: Mapping[str, Any]) -> timedelta | None:
    """The feed's own minimum polling interval: RSS `ttl`, or `sy:updatePeriod`/`Frequency`."""
    hints = []
    ttl = bounded_int(str(feed.get("ttl") or ""), maximum=_MAX_TTL_MINUTES)
    if ttl:
        hints.append(timedelta(minutes=ttl))
    period = _SY_PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period is not None:
        frequency = bounded_int(str(feed.get("sy_updatefrequency") or ""), maximum=_MAX_FREQUENCY)
        hints.append(period / max(frequency or 1, 1))
    return max(hints) if hints else None


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]


def feedparser_document(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """What feedparser is given: the document as UTF-8 without its DOCTYPE, and headers.

    The bytes are decoded as feedparser decodes them and the headers say UTF-8 from then on.
    When no encoding fits, feedparser reads the bytes as UTF-8 with replacement characters, and
    so does `strip_doctype`'s scan: both are handed on unchanged.
    """
    detected: dict[str, Any] = {}
    try:
        converted = convert_to_utf8(headers, body, detected)
    except Exception as exc:  # an unknown codec name in a header or declaration, for one
        raise ParseError(f"the feed's encoding could not be read: {exc}", kind="encoding") from exc
    if not detected.get("encoding"):
        return strip_doctype(body), headers
    content_type = headers.get("content-type")
    if content_type is None:
        return strip_doctype(converted), headers  # the XML declaration feedparser wrote says UTF-8
    media_type = content_type.split(";", 1)[0].strip()
    return strip_doctype(converted), {**headers, "content-type": f"{media_type}; charset=utf-8"}


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    try:
        return feedparser.parse(
            body, response_headers=headers, resolve_relative_uris=False, sanitize_html=False
        )
    except Exception as exc:  # feedparser raises many undocumented types on hostile input
        raise ParseError(f"the feed could not be read: {exc}") from exc


def _joined(base: str, value: str) -> str:
    try:
        return urljoin(base, value)
    except ValueError:  # "http://[x": unjoinable, and so left as it is by feedparser too
        return value


def _resolution_matters(body: bytes, parsed: Any, url: str) -> bool:
    """Whether giving feedparser the feed's URL could change anything this module reads.

    With the URL as base, feedparser joins it to the base of every element it opens, a quarter
    of its time. What it resolves against that base: links (which `_link` joins to the same URL
    anyway), `xml:base`, and entry ids that are permalinks. So without an `xml:base`, with every
    id and the feed's link already absolute or never resolved (`isPermaLink` other than "true"),
    both parses read the same; otherwise the caller parses again with the URL. Bytes that are
    not ASCII-compatible (UTF-16, UTF-32) are not inspected and always get the URL.
    """
    if b"\x00" in body[:256] or _XML_BASE.search(body):
        return True
    changed = [
        value
        for value in (
            *(str(entry.get("id") or "") for entry in parsed.entries),
            str(parsed.feed.get("link") or ""),
        )
        if value and _joined(url, value) != value
    ]
    if not changed:
        return False
    # Relative ids are left alone when feedparser never resolves them: no Atom-style <id>, and
    # every RSS <guid> is marked as not a permalink.
    guids = _GUID.findall(body)
    return (
        _ID_ELEMENT.search(body) is not None
        or not guids
        or any(_NOT_PERMALINK.search(attributes) is None for attributes in guids)
    )


def _read_with_feedparser(
    body: bytes, url: str, headers: Mapping[str, str] | None
) -> tuple[RawFeed, timedelta | None]:
    document, response_headers = feedparser_document(
        body, {key.lower(): value for key, value in (headers or {}).items()}
    )
    parsed = _feedparser(document, response_headers)
    if _resolution_matters(document, parsed, url):
        parsed = _feedparser(document, {**response_headers, "content-location": url})
    if not parsed.entries and not parsed.get("version"):
        if _looks_like_html(body):
            raise ParseError("that page is HTML, not a feed", kind="html")
        raise ParseError(
            "not a feed: no RSS, Atom or JSON Feed document was found", kind="not-a-feed"
        )
    items = [
        RawItem(
            entry_id=str(entry.get("id") or "").strip(),
            title=str(entry.get("title") or ""),
            html=_entry_html(entry),
            content=_entry_content(entry),
            links=_entry_links(entry),
            # dict.get: feedparser's own get() maps a missing "updated_parsed" to
            # "published_parsed" with a DeprecationWarning; that one was tried first anyway.
            published=plausible_time(_struct_time(dict.get(entry, "published_parsed")))
            or plausible_time(_struct_time(dict.get(entry, "updated_parsed")))
            or plausible_time(_struct_time(dict.get(entry, "created_parsed"))),
            images=_entry_images(entry),
        )
        for entry in parsed.entries
    ]
    feed = parsed.feed
    raw = RawFeed(
        title=str(feed.get("title") or ""),
        language=str(feed.get("language") or "") or None,
        items=items,
        link=str(feed.get("link") or "") or None,
    )
    return raw, _hint(feed)


def parse_feed(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    now: datetime,
) -> ParsedFeed:
    """Parse `body` (fetched from `url`) into normalised entries; raise `ParseError` if no feed."""
    try:
        if not body.strip():
            raise ParseError("the answer was empty", kind="empty")
        hint: timedelta | None = None
        if looks_like_json(body):
            raw = read_json_feed(body)
        else:
            raw, hint = _read_with_feedparser(body, url, headers)
        return _normalise(raw, url, now, hint)
    except ParseError:
        raise
    except Exception as exc:  # RecursionError included
        raise ParseError(
            f"the feed could not be read ({type(exc).__name__}: {exc})", kind="internal"
        ) from exc


def _cleaned(item: RawItem) -> RawItem:
    """The item without characters no text can hold (JSON may escape lone surrogates)."""
    return RawItem(
        entry_id=clean_text(item.entry_id).strip(),
        title=clean_text(item.title),
        html=clean_text(item.html),
        content=item.content,  # cleaned when used: most entries' content never is
        links=[clean_text(link) for link in item.links],
        published=item.published,
        images=item.images,
    )


def _normalise(raw: RawFeed, url: str, now: datetime, hint: timedelta | None) -> ParsedFeed:
    texts = [(item, plain_text(item.html)) for item in map(_cleaned, raw.items)]
    language = fit_language(raw.language)
    if language:
        lang = base_language(language)
    else:
        sample = " ".join(plain_text(item.title) + " " + text[:300] for item, text in texts[:20])
        lang = guess_language(sample)
    entries = []
    for item, text in texts:
        link = _link(item.links, url)
        title = plain_text(item.title) or _first_sentence(text)
        if not title and not text:
            continue
        entry_id = item.entry_id or link or hashlib.sha256((title + text).encode()).hexdigest()
        published = plausible_time(item.published) or now
        summary = cut_at_word(text, SUMMARY_LIMIT)
        # A teaser summary beside the full content (WordPress's description and
        # content:encoded): the card's body, and its key points, come from the content.
        full = text
        if item.content and is_teaser(text):
            content = plain_text(clean_text(item.content))
            full = content if len(content) > len(text) else text
        entries.append(
            ParsedEntry(
                entry_id=entry_id[:1000],
                title=cut_at_word(title, 500),
                summary=summary,
                link=link or "",
                published_at=min(published, now),
                language=lang,
                terms=document_terms(f"{title} {text[:_INDEXED_TEXT_LIMIT]}", lang),
                body=cut_at_word(full, BODY_LIMIT) if len(full) > len(summary) else "",
                image_url=story_image(item.images, link or url),
            )
        )
    feed_title = plain_text(clean_text(raw.title)) or None
    return ParsedFeed(title=feed_title, language=language, entries=entries, min_interval=hint)
