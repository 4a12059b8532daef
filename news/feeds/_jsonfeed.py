"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), which feedparser does not read.

`read_json_feed` turns the document into the same raw items the feedparser path produces; the
normalising (plain text, canonical links, times) happens once, in `news.feeds.parse`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from news.errors import ParseError
from news.feeds.images import first_image


@dataclass(frozen=True, slots=True)
class RawItem:
    """One entry as the feed gives it: HTML or text fields, links as written, a time if any."""

    entry_id: str
    title: str
    html: str
    links: list[str]
    published: datetime | None
    # What the entry names as its picture, best first (see `news.feeds.images`), as written.
    images: tuple[str, ...] = ()
    # The entry's full content when the feed gives it beside a summary (RSS content:encoded
    # beside a description, Atom content beside summary): the story's body if the summary is
    # a teaser. "" when `html` is all the feed gives.
    content: str = ""


@dataclass(frozen=True, slots=True)
class RawFeed:
    """A feed as the feed gives it, before normalising."""

    title: str
    language: str | None
    items: list[RawItem] = field(default_factory=list)
    link: str | None = None


def looks_like_json(body: bytes) -> bool:
    """True when the body starts (after a BOM and white space) with a JSON object."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _id(value: Any) -> str:
    """An item's id: a string, or a number some feeds write instead; anything else is none."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, str | int | float):
        return str(value).strip()
    return ""


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_json_feed(body: bytes) -> RawFeed:
    """Parse a JSON Feed document; `ParseError` when it is not one."""
    try:
        document = json.loads(body.decode("utf-8-sig", errors="replace"))
    except RecursionError as exc:
        raise ParseError("JSON nested too deeply to be a feed", kind="not-a-feed") from exc
    except ValueError as exc:
        raise ParseError(f"not valid JSON: {exc}", kind="not-a-feed") from exc
    if not isinstance(document, dict) or not _text(document.get("version")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise ParseError("JSON, but not a JSON Feed (no jsonfeed.org version)", kind="not-a-feed")
    listed = document.get("items")
    if listed is None:
        listed = []
    if not isinstance(listed, list):
        raise ParseError("a JSON Feed whose items are not a list", kind="not-a-feed")
    items = []
    for raw in listed:
        if not isinstance(raw, dict):
            continue
        html = _text(raw.get("content_html")) or _text(raw.get("content_text"))
        summary = _text(raw.get("summary"))
        links = [link for link in (_text(raw.get("url")), _text(raw.get("external_url"))) if link]
        items.append(
            RawItem(
                entry_id=_id(raw.get("id")),
                title=_text(raw.get("title")),
                html=summary or html,
                content=html if summary else "",
                links=links,
                published=_time(raw.get("date_published")) or _time(raw.get("date_modified")),
                images=tuple(
                    image
                    for image in (
                        _text(raw.get("image")),
                        _text(raw.get("banner_image")),
                        first_image(_text(raw.get("content_html"))),
                    )
                    if image
                ),
            )
        )
    return RawFeed(
        title=_text(document.get("title")),
        language=_text(document.get("language")) or None,
        items=items,
        link=_text(document.get("home_page_url")) or None,
    )
