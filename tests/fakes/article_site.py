"""A fake news site on loopback: article pages, robots.txt, a paywall and hostile pages.

`ArticleHost("127.0.0.2")` serves one host (any 127.0.0.N is loopback on Linux, so several
hosts make separate sites: a story's own site and an "elsewhere"). Each path answers with a
`Page`: a body with its content type and status, optionally gzip-encoded as sent, streamed
without a length (`stream_bytes`), or trickled a byte at a time (`trickle`). robots.txt is a
page like any other (`set_robots`). Every request is recorded with its headers, so tests can
check the user agent, the Accept header, that no cookie is sent and how requests are paced.

The page builders make what the tests and the bot's own tests need: `article_page` (a real
looking article with a headline, a dateline, a byline, paragraphs, a photo credit and a
newsletter box), `paywall_page` (a stub marked `isAccessibleForFree: false`), `nested_divs`,
`gzip_bomb`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

ROBOTS_ALLOW_ALL = "User-agent: *\nAllow: /\n"


@dataclass(frozen=True)
class Page:
    """What one path answers."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: Sent as `Content-Encoding: gzip`, `body` being the compressed bytes.
    gzipped: bool = False
    #: Stream this many bytes of `body` repeated, with no Content-Length (a huge page).
    stream_bytes: int | None = None
    #: Send the body one byte every this many seconds (a slow-loris server).
    trickle: float | None = None


@dataclass(frozen=True)
class SeenRequest:
    path: str
    headers: dict[str, str]
    at: float


def html_page(
    body: str, *, charset: str = "utf-8", content_type: str | None = None, status: int = 200
) -> Page:
    """`body` (an HTML document) encoded in `charset`, declared in the header."""
    return Page(
        body=body.encode(charset),
        content_type=content_type or f"text/html; charset={charset}",
        status=status,
    )


def article_html(
    title: str,
    paragraphs: Sequence[str],
    *,
    dateline: str = "LONDON (Reuters) - ",
    byline: str = "By Jane Doe, Staff Reporter",
    meta_charset: str | None = None,
    json_ld: dict[str, object] | None = None,
) -> str:
    """A news article page as outlets make them: navigation, headline, byline, the body with a
    dateline and a photo credit, a newsletter box, related links and a footer."""
    head = f'<meta charset="{meta_charset}">' if meta_charset else ""
    if json_ld is not None:
        head += f'<script type="application/ld+json">{json.dumps(json_ld)}</script>'
    body = ""
    if paragraphs:
        body = f"<p>{dateline}{paragraphs[0]}</p>" + "".join(
            f"<p>{text}</p>" for text in paragraphs[1:]
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head>{head}<title>{title} | The Daily Example</title>
<meta property="og:title" content="{title}"></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/business">Business</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<main><article>
<h1>{title}</h1>
<p class="byline">{byline}</p>
<figure><img src="/photo.jpg" alt=""><figcaption>Photo: Getty Images</figcaption></figure>
<div class="article-body">{body}</div>
<aside class="newsletter"><p>Sign up for our newsletter to get the news every morning.</p></aside>
</article></main>
<section class="related"><h2>Read more</h2><ul>
<li><a href="/a">Another story about something else entirely</a></li>
<li><a href="/b">A third story with a long headline of its own</a></li></ul></section>
<footer><p>© 2026 The Daily Example. All rights reserved.</p></footer>
</body></html>"""


def paywall_html(title: str, teaser: str) -> str:
    """A subscriber-only article: a stub of its first paragraph and a subscription box."""
    return article_html(
        title,
        [teaser, "Subscribe to continue reading. Already a subscriber? Log in."],
        json_ld={
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "isAccessibleForFree": False,
        },
    )


def nested_divs(depth: int) -> bytes:
    """A page of `depth` nested `<div>`s around one sentence."""
    return (
        b"<html><body>"
        + b"<div>" * depth
        + b"<p>Deep inside.</p>"
        + b"</div>" * depth
        + b"</body></html>"
    )


def gzip_bomb(size: int) -> bytes:
    """gzip of `size` spaces inside an HTML page: a few tens of kilobytes on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1024 * 1024)
    out = [compressor.compress(b"<html><body><p>")]
    for _ in range(size // len(chunk)):
        out.append(compressor.compress(chunk))
    out.append(compressor.compress(b"</p></body></html>"))
    out.append(compressor.flush())
    return b"".join(out)


def gzipped(page: Page) -> Page:
    """`page` sent gzip-encoded."""
    return Page(
        body=gzip.compress(page.body),
        content_type=page.content_type,
        status=page.status,
        headers=page.headers,
        gzipped=True,
    )


class ArticleHost(LoopbackServer):
    """One site on a loopback address: pages by path, robots.txt, every request recorded."""

    def __init__(
        self, address: str = "127.0.0.2", *, robots: str | None = ROBOTS_ALLOW_ALL
    ) -> None:
        super().__init__("/{tail:.*}", host=address)
        self.pages: dict[str, Page] = {}
        self.requests: list[SeenRequest] = []
        self.set_robots(robots)

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def set_page(self, path: str, page: Page | str) -> str:
        """Serve `page` (an HTML string is served as UTF-8) at `path`; returns its URL."""
        self.pages[path] = html_page(page) if isinstance(page, str) else page
        return self.url(path)

    def set_robots(self, text: str | None, *, status: int = 200) -> None:
        """robots.txt's text (None: answer 404)."""
        if text is None:
            self.pages["/robots.txt"] = Page(b"not found", "text/plain", status=404)
        else:
            self.pages["/robots.txt"] = Page(text.encode(), "text/plain", status=status)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.pages[path] = Page(status=status, headers={"Location": location})
        return self.url(path)

    def requests_for(self, path: str) -> list[SeenRequest]:
        return [seen for seen in self.requests if seen.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            SeenRequest(request.path, dict(request.headers), asyncio.get_running_loop().time())
        )
        page = self.pages.get(request.path)
        if page is None:
            return web.Response(status=404, text="no such page")
        headers = dict(page.headers)
        headers["Content-Type"] = page.content_type
        if page.gzipped:
            headers["Content-Encoding"] = "gzip"
        if page.stream_bytes is None and page.trickle is None:
            return web.Response(status=page.status, body=page.body, headers=headers)
        response = web.StreamResponse(status=page.status, headers=headers)
        await response.prepare(request)
        if page.trickle is not None:
            for byte in page.body:
                await response.write(bytes([byte]))
                await asyncio.sleep(page.trickle)
        else:
            assert page.stream_bytes is not None
            sent = 0
            while sent < page.stream_bytes:
                await response.write(page.body)
                sent += len(page.body)
        await response.write_eof()
        return response
