"""Pure helpers that build RSS 2.0 and Atom 1.0 documents as strings for tests.

Text is XML-escaped and attributes quoted with `xml.sax.saxutils`; RSS dates are RFC 822
(`email.utils.format_datetime`, in GMT) and Atom dates RFC 3339 (UTC, `Z`). Naive datetimes are
taken as UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

DEFAULT_ATOM_UPDATED = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One story of a test feed."""

    title: str
    link: str
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc822(moment: datetime) -> str:
    """`Tue, 02 Jan 2024 03:04:05 GMT`."""
    return format_datetime(_utc(moment), usegmt=True)


def rfc3339(moment: datetime) -> str:
    """`2024-01-02T03:04:05Z` (fractions of a second are kept when present)."""
    text = _utc(moment).isoformat()
    return text.removesuffix("+00:00") + "Z"


def _element(name: str, text: str) -> str:
    return f"<{name}>{escape(text)}</{name}>"


def rss_feed(
    items: Sequence[FeedItem],
    *,
    title: str = "Test Feed",
    link: str = "https://news.example.org/",
    language: str | None = "en",
) -> str:
    """An RSS 2.0 document with one `<item>` per `FeedItem`, in the given order."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0">',
        "<channel>",
        _element("title", title),
        _element("link", link),
        _element("description", title),
    ]
    if language is not None:
        lines.append(_element("language", language))
    for item in items:
        lines.append("<item>")
        lines.append(_element("title", item.title))
        lines.append(_element("link", item.link))
        if item.guid is not None:
            permalink = "true" if item.guid == item.link else "false"
            lines.append(f"<guid isPermaLink={quoteattr(permalink)}>{escape(item.guid)}</guid>")
        if item.summary:
            lines.append(_element("description", item.summary))
        if item.published is not None:
            lines.append(_element("pubDate", rfc822(item.published)))
        lines.append("</item>")
    lines += ["</channel>", "</rss>", ""]
    return "\n".join(lines)


def atom_feed(
    items: Sequence[FeedItem],
    *,
    title: str = "Test Feed",
    link: str = "https://news.example.org/",
    language: str | None = "en",
    feed_id: str | None = None,
    updated: datetime | None = None,
) -> str:
    """An Atom 1.0 document with one `<entry>` per `FeedItem`, in the given order.

    An entry's `<id>` is its guid, else its link; its `<updated>` is its published date, else
    the feed's `updated` (default 2024-01-01T00:00:00Z, so output is deterministic).
    """
    feed_updated = updated or max(
        (_utc(item.published) for item in items if item.published is not None),
        default=DEFAULT_ATOM_UPDATED,
    )
    lang = f" xml:lang={quoteattr(language)}" if language is not None else ""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"{lang}>',
        _element("title", title),
        f'<link rel="alternate" href={quoteattr(link)}/>',
        _element("id", feed_id or link),
        _element("updated", rfc3339(feed_updated)),
    ]
    for item in items:
        lines.append("<entry>")
        lines.append(_element("title", item.title))
        lines.append(f'<link rel="alternate" href={quoteattr(item.link)}/>')
        lines.append(_element("id", item.guid or item.link))
        if item.published is not None:
            lines.append(_element("published", rfc3339(item.published)))
        lines.append(_element("updated", rfc3339(item.published or feed_updated)))
        if item.summary:
            lines.append(f'<summary type="html">{escape(item.summary)}</summary>')
        lines.append("</entry>")
    lines += ["</feed>", ""]
    return "\n".join(lines)


def fresh_story_feed(title: str, link: str, summary: str) -> str:
    """The feed "World" with one story, published a minute ago."""
    item = FeedItem(
        title, link, summary=summary, published=datetime.now(UTC) - timedelta(minutes=1)
    )
    return rss_feed([item], title="World")
