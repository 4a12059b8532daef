"""Fetching feeds over HTTP: one shared async client, conditional GET, timeouts, a size cap.

The fetcher returns a `FetchResult` or raises `FetchError`; it never parses. Conditional GET
(ETag / Last-Modified) makes an unchanged feed cost one small 304 answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

import httpx

from news.errors import FetchError

USER_AGENT = "Newsbot/0.1 (Telegram news bot; RSS/Atom reader)"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One answer from a feed's server."""

    url: str
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    """Fetches feeds with one pooled HTTP client; use as an async context manager."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            max_redirects=5,
            headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url`, conditionally when validators are known; raise `FetchError` on failure."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return FetchResult(
                        url=str(response.url), status=304, etag=etag, last_modified=last_modified
                    )
                if response.status_code >= 400:
                    raise FetchError(
                        f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                        kind=f"http-{response.status_code}",
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(
                        f"the feed is {int(declared)} bytes, over the {self.max_bytes}-byte cap",
                        kind="too-large",
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(
                            f"the feed is over the {self.max_bytes}-byte cap", kind="too-large"
                        )
                    chunks.append(chunk)
                return FetchResult(
                    url=str(response.url),
                    status=response.status_code,
                    body=b"".join(chunks),
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                    headers=dict(response.headers),
                )
        except httpx.TooManyRedirects as exc:
            raise FetchError("too many redirects", kind="redirects") from exc
        except httpx.TimeoutException as exc:
            raise FetchError("the server did not answer in time", kind="timeout") from exc
        except httpx.ConnectError as exc:
            raise FetchError(f"could not connect: {exc}", kind="connect") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"network error: {exc}", kind="network") from exc
        except ValueError as exc:  # httpx rejects malformed URLs this way
            raise FetchError(f"invalid URL: {exc}", kind="url") from exc
