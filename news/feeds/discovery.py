"""Adding a source: fetch the URL once, confirm it is a feed, or find the feed a page advertises.

A web page names its feeds with `<link rel="alternate" type="application/rss+xml" href="…">`
(or atom+xml, feed+json); the first one that really is a feed is used. Otherwise the user gets a
clear reason ("that page is HTML and advertises no feed"). Sources that a user or an admin adds
must also resolve to public addresses (see `news.feeds.safety`), unless the operator allows private
ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urljoin

from news.errors import FeedError, ParseError, SourceError
from news.feeds.fetch import Fetcher, FetchResult
from news.feeds.parse import ParsedFeed, parse_feed
from news.feeds.safety import check_public_host
from news.feeds.text import is_web_url

FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/json"}
)


class _FeedLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {name: (value or "") for name, value in attrs}
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").split(";")[0].strip().lower()
        if "alternate" in rels and kind in FEED_TYPES and values.get("href"):
            self.hrefs.append(values["href"].strip())


def advertised_feeds(page: bytes, base_url: str) -> list[str]:
    """The absolute http(s) feed URLs an HTML page advertises, in page order."""
    finder = _FeedLinks()
    finder.feed(page[:2_000_000].decode("utf-8", errors="replace"))
    urls = [urljoin(base_url, href) for href in finder.hrefs]
    return [url for url in dict.fromkeys(urls) if is_web_url(url)]


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """The feed a URL leads to: its own URL (after discovery and permanent moves), what it holds."""

    url: str
    feed: ParsedFeed


async def find_feed(
    url: str, fetcher: Fetcher, *, now: datetime, allow_private: bool = False
) -> FoundFeed:
    """Fetch `url` and return the feed it is or advertises; `SourceError` with the reason."""
    if not is_web_url(url):
        raise SourceError(f"{url!r} is not an http(s) URL")
    if not allow_private:
        await check_public_host(url)
    fetched = await _fetch(url, fetcher)
    try:
        return FoundFeed(_stored_url(url, fetched), await _parse(fetched, now))
    except ParseError as error:
        if error.kind != "html":
            raise SourceError(f"{url} is not a feed: {error}") from error
    candidates = advertised_feeds(fetched.body, fetched.url)
    if not candidates:
        raise SourceError(f"{url}: that page is HTML and advertises no feed")
    reasons = []
    for candidate in candidates[:5]:
        try:
            if not allow_private:
                await check_public_host(candidate)
            found = await _fetch(candidate, fetcher)
            return FoundFeed(_stored_url(candidate, found), await _parse(found, now))
        except (SourceError, ParseError) as error:
            reasons.append(f"{candidate}: {error}")
    raise SourceError(f"{url} advertises feeds, but none could be read ({'; '.join(reasons)})")


async def _fetch(url: str, fetcher: Fetcher) -> FetchResult:
    try:
        return await fetcher.fetch(url)
    except FeedError as error:
        raise SourceError(f"{url} could not be fetched: {error}") from error


async def _parse(fetched: FetchResult, now: datetime) -> ParsedFeed:
    return await asyncio.to_thread(
        parse_feed, fetched.body, url=fetched.url, headers=fetched.headers, now=now
    )


def _stored_url(url: str, fetched: FetchResult) -> str:
    return fetched.permanent_url or url
