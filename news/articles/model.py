"""What reading a story's web page gives: an `Article`, or `ArticleUnavailable` saying why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from news.errors import NewsbotError

#: Why a page gave no article text. A tag, so a caller can count or log them; the message says
#: it in words.
UnavailableKind = Literal[
    "paywall",  # the page asks for a subscription or a login (HTTP 401/402/403 or a stub)
    "robots",  # robots.txt forbids the bot this page, or could not be read
    "not_html",  # the answer is an image, a PDF, a feed... not a web page
    "too_large",  # over the size cap (after decompression)
    "too_complex",  # over the element cap: markup no article needs (200,000 nested divs)
    "timeout",  # no complete answer within the deadline, or extraction over its CPU bound
    "private_address",  # the host, or a redirect, leads to a loopback/private address
    "no_text",  # a web page, but no article text in it (a JavaScript-only page, a gallery)
    "off_site",  # the page (or a redirect) is not on the story's own site
    "http_status",  # the server answered with an error status
    "slow",  # the host asked us to wait (429/503, Retry-After) or its pace forbids a visit now
    "network",  # could not connect, or the connection broke
    "bad_url",  # not an http(s) URL, a redirect loop, too many redirects
]


class ArticleUnavailable(NewsbotError):
    """A story's page gave no article text. `str(error)` is one line a person can read.

    `kind` tags the reason; `retry_after` (seconds) is set when the host asked us to come back
    later, so a caller may try again then instead of giving up.
    """

    def __init__(
        self, message: str, *, kind: UnavailableKind, retry_after: float | None = None
    ) -> None:
        super().__init__(" ".join(message.split()))
        self.kind: UnavailableKind = kind
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Article:
    """A story's article, read from its web page.

    `url` is the page's address after redirects; `title` its headline (may be empty); `text`
    the article's plain text, paragraphs separated by newlines; `key_points` 2–4 of its
    sentences (fewer for a very short article), in the article's order.
    """

    url: str
    title: str
    text: str
    key_points: tuple[str, ...] = ()
