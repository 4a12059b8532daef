"""Fetching feeds over HTTP: one shared async client, limits, timeouts, a size cap, redirects.

The fetcher returns a `FetchResult` or raises `FetchError`; it never parses. What it guarantees:

- at most `max_in_flight` requests at once overall and `per_host` at once to one host;
- a `User-Agent` naming the bot; gzip and deflate, decoded here with the size cap applied to the
  *decoded* bytes while streaming, so neither a huge body nor a gzip bomb is ever held in memory;
- a connect timeout and a total deadline for the whole fetch, redirects included; the deadline
  counts the time requests take, not the time spent waiting for a slot (a slow host with many
  feeds makes its feeds wait their turn, not fail);
- conditional GET (ETag / Last-Modified): an unchanged feed costs one small 304 answer;
- redirects followed by hand, at most `max_redirects`; a loop is an error, not a hang; the URL
  reached through permanent redirects only (301/308) is reported as `permanent_url`, so the
  caller can update the stored URL, while temporary ones (302/303/307) change nothing;
- only http and https, for the first URL and every redirect target;
- per call (`fetch`'s keyword arguments, for article pages and robots.txt): another `Accept`,
  the content types accepted (anything else ends before its body is read), another size cap and
  deadline, and a `before_request` hook awaited before every request, redirects included (where
  the article reader checks the site, robots.txt and the per-host pace);
- with `public_only`, no request reaches a loopback, private or link-local address: every host
  is checked as it is resolved (by the connector's resolver, so a redirect, or a name that
  resolved to a public address when the source was added, cannot lead there either).

The client is aiohttp's: against the loopback server of `bench/bench_ingest.py` it fetched
several times as many feeds per second as an httpx client (even with its connections spread over
several pools; figures in docs/benchmarks.md), and a re-poll answered by 304s is all client
overhead. Its automatic decompression is off (the decoder here applies the cap), cookies are not
kept (a feed is not a session), and it never follows redirects itself.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp

from news.errors import FetchError, http_error_kind
from news.feeds.fitting import bounded_int
from news.feeds.safety import is_public_address
from news.feeds.text import is_web_url
from news.policy import MAX_FEED_BYTES

USER_AGENT = "Newsbot/0.1 (Telegram news bot; RSS/Atom/JSON Feed reader)"
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LOOKS_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*")
_PERMANENT = frozenset({301, 308})
# The most of an unneeded body read to keep its connection for reuse.
_DRAIN_LIMIT = 64 * 1024
# Headers that describe the transfer, not the document: the body handed on is already decoded.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How much one fetch, and all fetches together, may take."""

    max_bytes: int = MAX_FEED_BYTES
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


@dataclass(frozen=True, slots=True)
class _Call:
    """What one `fetch` call asks beyond the fetcher's defaults."""

    max_bytes: int
    deadline: float
    accept: str | None = None
    content_types: frozenset[str] | None = None
    before_request: Callable[[str], Awaitable[None]] | None = None


class _Budget:
    """The time one fetch has left for its requests (redirects share it)."""

    __slots__ = ("left",)

    def __init__(self, seconds: float) -> None:
        self.left = seconds


class _PrivateAddress(OSError):
    """A host resolved to an address a public-only fetcher may not reach."""


class _PublicOnlyResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's default resolver, refusing any name with a non-public address."""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            if not is_public_address(result["host"]):
                raise _PrivateAddress(_private_message(host, result["host"]))
        return found

    async def close(self) -> None:
        await self._inner.close()


def _private_message(host: str, address: str) -> str:
    return (
        f"{host} resolves to {address}, a loopback, private or link-local address; "
        "such sources are refused unless NEWSBOT_ALLOW_PRIVATE_SOURCES=1"
    )


class _Decoder:
    """Decodes a Content-Encoding while streaming, never producing more than `limit` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self._encoding = encoding
        self._room = limit
        self._limit = limit
        self._zlib: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding not in ("", "identity", "deflate"):
            raise FetchError(
                f"the server used the {encoding!r} content encoding, which was not asked for",
                kind="encoding",
            )

    def feed(self, data: bytes) -> bytes:
        if self._encoding == "deflate" and self._zlib is None and data:
            # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        if self._zlib is None:
            out = data
        else:
            try:
                # At most one byte past the room: enough to know the cap is passed.
                out = self._zlib.decompress(data, self._room + 1)
            except zlib.error as exc:
                raise FetchError(f"the compressed body is corrupt: {exc}", kind="encoding") from exc
        if len(out) > self._room:
            raise FetchError(f"the feed is over the {self._limit}-byte cap", kind="too-large")
        self._room -= len(out)
        return out


class Fetcher:
    """Fetches feeds with one pooled HTTP client; use as an async context manager."""

    def __init__(self, limits: FetchLimits | None = None, *, public_only: bool = False) -> None:
        self.limits = limits or FetchLimits()
        self.public_only = public_only
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.limits.connect_timeout)
        self._in_flight = asyncio.Semaphore(self.limits.max_in_flight)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.limits.per_host)
        )

    @property
    def max_bytes(self) -> int:
        return self.limits.max_bytes

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
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop, as aiohttp wants.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.limits.max_in_flight,
                    resolver=_PublicOnlyResolver() if self.public_only else None,
                ),
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": _ACCEPT,
                    "Accept-Encoding": "gzip, deflate",
                },
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        content_types: frozenset[str] | None = None,
        max_bytes: int | None = None,
        deadline: float | None = None,
        before_request: Callable[[str], Awaitable[None]] | None = None,
    ) -> FetchResult:
        """GET `url`, conditionally when validators are known; raise `FetchError` on failure.

        `accept` replaces the feed `Accept` header; `content_types` (lower-case media types) are
        the only ones read, anything else raising `FetchError` of kind "content-type" (an answer
        without a Content-Type is read: what it is, the reader of the bytes finds out);
        `max_bytes` and `deadline` (seconds) replace the limits' cap and total timeout;
        `before_request(url)` is awaited before each request, redirects included, outside the
        deadline, and what it raises ends the fetch.
        """
        call = _Call(
            max_bytes=self.limits.max_bytes if max_bytes is None else max_bytes,
            deadline=self.limits.total_timeout if deadline is None else deadline,
            accept=accept,
            content_types=content_types,
            before_request=before_request,
        )
        return await self._follow(url, etag, last_modified, call)

    async def _follow(
        self, url: str, etag: str | None, last_modified: str | None, call: _Call
    ) -> FetchResult:
        budget = _Budget(call.deadline)
        visited = {url}
        current = url
        permanent_url: str | None = None
        only_permanent = True
        for _ in range(self.limits.max_redirects + 1):
            if not is_web_url(current):
                raise FetchError(f"not an http(s) URL: {current}", kind="url")
            if call.before_request is not None:
                await call.before_request(current)
            # A slot is held for the request alone: the hook may wait its host's turn and fetch
            # robots.txt through this fetcher, which must not take the slots of feed polls.
            async with self._in_flight:
                result, location = await self._get(current, etag, last_modified, budget, call)
            if location is None:
                assert result is not None
                return replace(result, permanent_url=permanent_url)
            status, target = location
            target = urljoin(current, target)
            if target in visited:
                raise FetchError(f"redirect loop at {target}", kind="redirect-loop")
            visited.add(target)
            only_permanent = only_permanent and status in _PERMANENT
            if only_permanent:
                permanent_url = target
            current = target
        raise FetchError(
            f"more than {self.limits.max_redirects} redirects", kind="too-many-redirects"
        )

    async def _get(
        self, url: str, etag: str | None, last_modified: str | None, budget: _Budget, call: _Call
    ) -> tuple[FetchResult | None, tuple[int, str] | None]:
        """One request: a result, or the (status, Location) of a redirect."""
        headers = {}
        if call.accept:
            headers["Accept"] = call.accept
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        host = (urlsplit(url).hostname or "").lower()
        if self.public_only and _is_ip_literal(host) and not is_public_address(host):
            # aiohttp resolves no IP literal, so the resolver never sees this one.
            raise FetchError(_private_message(host, host), kind="private-address")
        if _LOOKS_NUMERIC.fullmatch(host) and not _is_ip_literal(host):
            # "127.1", "2130706433", "0x7f.1": some resolvers read these as addresses.
            raise FetchError(f"{host} is not a canonical IP address", kind="url")
        async with self._hosts[host]:
            # The deadline runs only while this request holds its host's slot.
            started = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(budget.left):
                    return await self._request(url, headers, etag, last_modified, call)
            except TimeoutError as exc:
                raise FetchError(
                    f"no complete answer within {call.deadline:g} s", kind="timeout"
                ) from exc
            finally:
                budget.left -= asyncio.get_running_loop().time() - started

    async def _request(
        self,
        url: str,
        headers: dict[str, str],
        etag: str | None,
        last_modified: str | None,
        call: _Call,
    ) -> tuple[FetchResult | None, tuple[int, str] | None]:
        try:
            async with self._client().get(
                url, headers=headers, allow_redirects=False, timeout=self._timeout
            ) as response:
                return await self._read(response, etag, last_modified, call)
        except aiohttp.ServerTimeoutError as exc:
            raise FetchError("the server did not answer in time", kind="timeout") from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, _PrivateAddress):
                raise FetchError(str(exc.os_error), kind="private-address") from exc
            raise FetchError(f"could not connect: {exc}", kind="connect") from exc
        except aiohttp.InvalidURL as exc:
            raise FetchError(f"invalid URL: {exc}", kind="url") from exc
        except aiohttp.ClientError as exc:
            raise FetchError(f"network error: {_describe(exc)}", kind="network") from exc
        except ValueError as exc:  # yarl rejects some malformed URLs this way
            raise FetchError(f"invalid URL: {exc}", kind="url") from exc

    async def _read(
        self,
        response: aiohttp.ClientResponse,
        etag: str | None,
        last_modified: str | None,
        call: _Call,
    ) -> tuple[FetchResult | None, tuple[int, str] | None]:
        status = response.status
        if status in _REDIRECTS or status == 304 or status >= 400:
            await _drain(response)
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchError(f"HTTP {status} redirect without a Location", kind="redirect")
            return None, (status, location.strip())
        final_url = str(response.url)
        if status == 304:
            return FetchResult(
                url=final_url,
                status=304,
                etag=response.headers.get("etag") or etag,
                last_modified=response.headers.get("last-modified") or last_modified,
                headers=_plain_headers(response.headers),
            ), None
        if status >= 400:
            raise HTTPStatusError(
                status, response.reason or "", retry_after=response.headers.get("retry-after")
            )
        if call.content_types is not None:
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type and media_type not in call.content_types:
                response.close()  # its body is not wanted, however long
                raise FetchError(f"the page is {media_type}, not a web page", kind="content-type")
        cap = call.max_bytes
        declared = bounded_int(response.headers.get("content-length"), maximum=2**62)
        if declared is not None and declared > cap:
            raise FetchError(
                f"the feed is {declared} bytes, over the {cap}-byte cap", kind="too-large"
            )
        decoder = _Decoder(response.headers.get("content-encoding", "").strip().lower(), cap)
        chunks: list[bytes] = []
        raw_size = 0
        async for chunk in response.content.iter_any():
            raw_size += len(chunk)
            if raw_size > cap:
                raise FetchError(f"the feed is over the {cap}-byte cap", kind="too-large")
            chunks.append(decoder.feed(chunk))
        return FetchResult(
            url=final_url,
            status=status,
            body=b"".join(chunks),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            headers=_plain_headers(response.headers),
        ), None


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a body nobody needs (a 304's, a redirect's, an error page's), if it is small.

    A response closed before its end closes its connection too; read to the end, it goes back
    to the pool, so the next poll of a feed on the same host skips a TCP (and TLS) handshake.
    """
    read = 0
    async for chunk in response.content.iter_any():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            response.close()  # not worth it: let the connection close
            return


@functools.lru_cache(maxsize=4096)
def _is_ip_literal(host: str) -> bool:
    # Cached: asked at every request, and a poll asks about the same few hosts again and again.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _describe(error: aiohttp.ClientError) -> str:
    return str(error) or type(error).__name__


def _plain_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Response headers with lower-case names, minus those about the transfer encoding."""
    return {
        name.lower(): value
        for name, value in headers.items()
        if name.lower() not in _TRANSFER_HEADERS
    }
