"""A fake feed host for tests: an aiohttp server on 127.0.0.1 serving RSS/Atom like a web server.

`FeedServer.set_feed` serves a body with a strong ETag (a hash of the body) and optionally a
Last-Modified date, and answers conditional GETs with `304 Not Modified` (If-None-Match, and
If-Modified-Since when no If-None-Match is sent, as RFC 9110 says). `set_response` serves any
status/body/headers (errors, redirects), `stall` holds requests until `release` so client
timeouts can be tested without sleeping, `delay` makes a path slow, and unknown paths get 404.
Every request is recorded with the status served (499 for a stalled request whose client went
away).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from aiohttp import web

from .loopback import Changes, LoopbackServer


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server answered; header names are lower-cased."""

    path: str
    method: str
    headers: dict[str, str]
    status: int
    query: str = ""


@dataclass(slots=True)
class _Route:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None


def _normalise(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: `W/` prefixes are ignored."""
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _not_modified_since(header: str, last_modified: str) -> bool:
    if header.strip() == last_modified:
        return True
    try:
        return parsedate_to_datetime(header) >= parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False


class FeedServer(LoopbackServer):
    """Serves feeds and arbitrary answers on 127.0.0.1 at a random free port."""

    def __init__(self) -> None:
        super().__init__("/{tail:.*}")
        self.requests: list[RecordedRequest] = []
        self._routes: dict[str, _Route] = {}
        self._stalled: dict[str, asyncio.Event] = {}
        self._delays: dict[str, float] = {}
        self._changes = Changes()

    def _release_waiters(self) -> None:
        for event in self._stalled.values():
            event.set()

    # ------------------------------------------------------------------ configuration

    def url(self, path: str) -> str:
        """The absolute URL of `path`, e.g. `http://127.0.0.1:PORT/feeds/a.xml`."""
        return f"{self.origin}{_normalise(path)}"

    def set_feed(
        self,
        path: str,
        body: str | bytes,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: bool = True,
        last_modified: str | None = None,
    ) -> str | None:
        """Serve `body` at `path` with 200, conditional GET honoured; return the ETag (or None).

        `last_modified` is an HTTP date such as `Tue, 02 Jan 2024 03:04:05 GMT`.
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        tag = f'"{hashlib.sha256(data).hexdigest()[:32]}"' if etag else None
        route_headers = {"Content-Type": content_type, **(headers or {})}
        self._routes[_normalise(path)] = _Route(200, data, route_headers, tag, last_modified)
        return tag

    def set_response(
        self,
        path: str,
        *,
        status: int,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve exactly this answer at `path` (errors, redirects with a Location, ...)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        route_headers = dict(headers or {})
        if data and not any(name.lower() == "content-type" for name in route_headers):
            route_headers["Content-Type"] = "text/plain; charset=utf-8"
        self._routes[_normalise(path)] = _Route(status, data, route_headers)

    def remove(self, path: str) -> None:
        """Forget `path`: it answers 404 again."""
        self._routes.pop(_normalise(path), None)

    def stall(self, path: str) -> None:
        """Hold requests for `path` (no answer) until `release(path)` or the server stops."""
        self._stalled.setdefault(_normalise(path), asyncio.Event())

    def release(self, path: str) -> None:
        """Let stalled requests for `path` be answered, and stop stalling it."""
        event = self._stalled.pop(_normalise(path), None)
        if event is not None:
            event.set()

    def delay(self, path: str, seconds: float) -> None:
        """Answer `path` only `seconds` after each request arrives: a slow host."""
        self._delays[_normalise(path)] = seconds

    # ------------------------------------------------------------------ inspection

    def requests_for(self, path: str) -> list[RecordedRequest]:
        wanted = _normalise(path)
        return [request for request in self.requests if request.path == wanted]

    async def wait_for_requests(
        self,
        path: str | None = None,
        *,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for waiting on the fake
    ) -> list[RecordedRequest]:
        """Wait until at least `count` requests (for `path`, or any) were answered."""

        def matching() -> list[RecordedRequest]:
            return self.requests if path is None else self.requests_for(path)

        try:
            async with asyncio.timeout(timeout):
                while len(found := matching()) < count:
                    await self._changes.wait()
        except TimeoutError:
            seen = [f"{r.method} {r.path} -> {r.status}" for r in self.requests]
            raise AssertionError(
                f"expected {count} request(s) for {path or 'any path'} within {timeout}s; "
                f"answered: {seen or '(none)'}"
            ) from None
        return found

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        stalled = self._stalled.get(request.path)
        if stalled is not None:
            try:
                await stalled.wait()
            except asyncio.CancelledError:  # the client gave up (e.g. its read timeout)
                self._record(request, 499)  # nginx's "client closed request"
                raise
        pause = self._delays.get(request.path)
        if pause:
            await asyncio.sleep(pause)
        route = self._routes.get(request.path)
        if route is None:
            response = web.Response(status=404, text="Not Found")
        else:
            response = self._answer(request, route)
        self._record(request, response.status)
        return response

    def _record(self, request: web.Request, status: int) -> None:
        self.requests.append(
            RecordedRequest(
                path=request.path,
                method=request.method,
                headers={name.lower(): value for name, value in request.headers.items()},
                status=status,
                query=request.query_string,
            )
        )
        self._changes.notify()

    @staticmethod
    def _answer(request: web.Request, route: _Route) -> web.Response:
        validators: dict[str, str] = {}
        if route.etag is not None:
            validators["ETag"] = route.etag
        if route.last_modified is not None:
            validators["Last-Modified"] = route.last_modified
        if route.status == 200 and request.method in ("GET", "HEAD"):
            if_none_match = request.headers.get("If-None-Match")
            if_modified_since = request.headers.get("If-Modified-Since")
            if if_none_match is not None:
                not_modified = route.etag is not None and _etag_matches(if_none_match, route.etag)
            elif if_modified_since is not None and route.last_modified is not None:
                not_modified = _not_modified_since(if_modified_since, route.last_modified)
            else:
                not_modified = False
            if not_modified:
                extra = {
                    name: value
                    for name, value in route.headers.items()
                    if name.lower() not in ("content-type", "content-length")
                }
                return web.Response(status=304, headers={**extra, **validators})
        return web.Response(
            status=route.status, body=route.body, headers={**route.headers, **validators}
        )
