"""What a feed fetch returns and how it may fail, without the HTTP client that makes it.

`news.fetch` does the fetching with aiohttp; the poller, the polling decisions and their tests
need only these values and the `FeedFetcher` protocol, so they import this module and stay
free of the HTTP client (and a test can hand the poller a fetcher of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from news.errors import FetchError, http_error_kind

USER_AGENT = "Newsbot/0.1 (Telegram news bot; RSS/Atom/JSON Feed reader)"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How much one fetch, and all fetches together, may take."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_in_flight: int = 32
    per_host: int = 2
    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One answer from a feed's server, after redirects."""

    url: str
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    permanent_url: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class HTTPStatusError(FetchError):
    """The server answered with an error status; `retry_after` is its Retry-After, if any."""

    def __init__(self, status: int, reason: str, *, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status} {reason}".strip(), kind=http_error_kind(status))
        self.status = status
        self.retry_after = retry_after


class FeedFetcher(Protocol):
    """What fetches feeds for the poller: `news.fetch.Fetcher` in the bot."""

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url`, conditionally when validators are known; raise `FetchError` on failure."""
        ...
