"""Reading one story's page: the site, robots.txt, the pace, the fetch, then extraction.

`ArticleReader.read(url, site)` either returns an `Article` or raises `ArticleUnavailable` with
a kind and a one-line reason; every failure of the network, the server or the page becomes one
(`FetchError`s are translated here). Before each request, redirects included, it checks that
the URL is on the story's site, that robots.txt allows it, and waits for the host's turn
(`HostPace`; one fetch, redirects included, counts as one visit to each host it reaches; the
robots.txt of a host, read at most once a day, is not paced). A host that asked us to wait
(429 or 503, with or without Retry-After) is paused, and a visit that would wait longer than
`max_wait` fails at once as "slow" with `retry_after` set.

The page comes through our own `Fetcher`: public addresses only unless private sources are
allowed (checked at every connection and redirect), `text/html` and `application/xhtml+xml`
only, at most `max_bytes` after decompression, within `deadline` seconds of requests, no
cookies. Extraction (`news.articles.extract`) runs on `executor` (the parse worker processes)
with a CPU bound; without an executor it runs inline, which only a terminal command should do.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from urllib.parse import urlsplit

from news.articles.extract import CPU_SECONDS, MAX_ELEMENTS, Refusal, extract_article
from news.articles.model import Article, ArticleUnavailable, UnavailableKind
from news.articles.pace import HostPace
from news.articles.robots import ROBOTS_MAX_BYTES, RobotsAnswer, RobotsCache
from news.articles.sites import host_of, on_site, site_domains
from news.errors import FetchError
from news.feeds.fetch import USER_AGENT, Fetcher, HTTPStatusError
from news.feeds.text import is_web_url

#: The most of a page read, after decompression.
MAX_ARTICLE_BYTES = 5 * 1024 * 1024
#: Seconds the requests for one page may take, redirects included.
ARTICLE_DEADLINE = 15.0
#: Seconds the requests for one robots.txt may take.
ROBOTS_DEADLINE = 5.0
#: The longest wait for a host's turn; a longer one fails as "slow".
MAX_WAIT = 30.0
#: How long a host that answered 429 or 503 without Retry-After is left alone.
DEFAULT_BACKOFF = 60.0
# A Retry-After further away than this is read as this: a host cannot park us for a week.
_MAX_RETRY_AFTER = 6 * 3600.0
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_ACCEPT = "text/html, application/xhtml+xml;q=0.9"

_FETCH_KINDS: dict[str, UnavailableKind] = {
    "too-large": "too_large",
    "timeout": "timeout",
    "private-address": "private_address",
    "content-type": "not_html",
    "url": "bad_url",
    "redirect": "bad_url",
    "redirect-loop": "bad_url",
    "too-many-redirects": "bad_url",
}


class ArticleReader:
    """Reads stories' pages politely and safely; share one per process (it caches robots.txt)."""

    def __init__(
        self,
        fetcher: Fetcher,
        pace: HostPace,
        *,
        executor: Executor | None = None,
        user_agent: str = USER_AGENT,
        max_bytes: int = MAX_ARTICLE_BYTES,
        deadline: float = ARTICLE_DEADLINE,
        robots_deadline: float = ROBOTS_DEADLINE,
        cpu_seconds: float = CPU_SECONDS,
        max_elements: int = MAX_ELEMENTS,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._pace = pace
        self._executor = executor
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._robots_deadline = robots_deadline
        self._cpu_seconds = cpu_seconds
        self._max_elements = max_elements
        self._max_wait = max_wait
        self._robots = RobotsCache(user_agent, self._fetch_robots, clock=clock)

    async def read(self, url: str, site: str | Sequence[str] | None = None) -> Article:
        """The article at `url`, a page of `site` (the feed's URL and/or its links' domain, as
        URLs or host names; by default `url`'s own site). Raises `ArticleUnavailable`."""
        if not is_web_url(url):
            raise ArticleUnavailable(f"not a web page address: {url[:200]}", kind="bad_url")
        sites = [url] if site is None else [site] if isinstance(site, str) else list(site)
        domains = site_domains(sites)
        visited: set[str] = set()
        # The address asked last: after a redirect, the host whose answer a 429/503 is.
        asked = url

        async def before_request(current: str) -> None:
            nonlocal asked
            asked = current
            if not on_site(current, domains):
                raise ArticleUnavailable(
                    f"{host_of(current)} is not the story's own site", kind="off_site"
                )
            host = host_of(current)
            self._check_pace(host)
            parts = urlsplit(current)
            verdict = await self._robots.verdict(current, f"{parts.scheme}://{parts.netloc}")
            if verdict == "forbidden":
                raise ArticleUnavailable(f"robots.txt of {host} does not allow it", kind="robots")
            if verdict == "unreadable":
                raise ArticleUnavailable(
                    f"robots.txt of {host} could not be read; its pages are left alone until "
                    "it can be",
                    kind="robots",
                )
            if host not in visited:
                visited.add(host)
                await self._pace.wait_for(host)

        try:
            page = await self._fetcher.fetch(
                url,
                accept=_ACCEPT,
                content_types=PAGE_TYPES,
                max_bytes=self._max_bytes,
                deadline=self._deadline,
                before_request=before_request,
            )
        except HTTPStatusError as error:
            raise self._status_error(error, asked) from error
        except FetchError as error:
            kind = _FETCH_KINDS.get(error.kind, "network")
            message = str(error)
            if kind == "too_large":
                message = f"the page is over the {self._max_bytes / 2**20:g} MB cap"
            raise ArticleUnavailable(message, kind=kind) from error
        extract = functools.partial(
            extract_article,
            page.body,
            url=page.url,
            content_type=page.headers.get("content-type"),
            cpu_seconds=self._cpu_seconds,
            max_elements=self._max_elements,
        )
        if self._executor is None:
            result = extract()
        else:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, extract)
        if isinstance(result, Refusal):
            raise ArticleUnavailable(result.message, kind=result.kind)
        return result

    def _check_pace(self, host: str) -> None:
        delay = self._pace.delay(host)
        if delay > self._max_wait:
            raise ArticleUnavailable(
                f"{host} asked us to wait {delay:.0f} s", kind="slow", retry_after=delay
            )

    def _status_error(self, error: HTTPStatusError, url: str) -> ArticleUnavailable:
        host = host_of(url)
        if error.status in (429, 503):
            wait = _retry_after(error.retry_after) or DEFAULT_BACKOFF
            self._pace.pause(host, wait)
            return ArticleUnavailable(
                f"{host} is busy (HTTP {error.status}); try again in {wait:.0f} s",
                kind="slow",
                retry_after=wait,
            )
        if error.status in (401, 402):
            return ArticleUnavailable(
                f"the article is for subscribers only (HTTP {error.status})", kind="paywall"
            )
        return ArticleUnavailable(f"the page answered {error}", kind="http_status")

    async def _fetch_robots(self, robots_url: str) -> RobotsAnswer:
        try:
            answer = await self._fetcher.fetch(
                robots_url,
                accept="text/plain",
                max_bytes=ROBOTS_MAX_BYTES,
                deadline=self._robots_deadline,
            )
        except HTTPStatusError as error:
            # 429 is "not now", as a 5xx is: read as unreachable, not as "no robots.txt".
            return RobotsAnswer(None if error.status == 429 else error.status)
        except FetchError as error:
            if error.kind == "private-address":
                raise ArticleUnavailable(str(error), kind="private_address") from error
            return RobotsAnswer(None)
        return RobotsAnswer(answer.status, answer.body)


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (a number or an HTTP date), at most 6 hours."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 1.0), _MAX_RETRY_AFTER)
