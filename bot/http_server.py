"""The bot's HTTP listeners (health and metrics, the webhook), hardened alike against stalling.

Every server the bot opens is an aiohttp application behind `HardenedServer`, which adds what
aiohttp leaves open:

- **Header timeout** (`ServerLimits.header_timeout`, 10 s): a connection must deliver a
  request's complete headers within that time of opening (or of its previous answer, kept
  alive), else it is closed. aiohttp's keep-alive timer does this: it runs from the moment a
  connection opens and closes it while no request has arrived, however slowly bytes trickle in
  (a slowloris sending a byte a second is cut off). Bodies are the handlers' to bound: the
  health endpoints read none and the webhook reads at most 1 MB within its own deadline.
- **Connection cap** (`ServerLimits.max_connections`, 256): at the cap, a new connection closes
  the one that has waited longest without a request in progress (idle: still sending its
  headers, or kept alive between requests); when every connection is in the middle of a
  request, the new one is closed at once. So a crowd of idle or half-sent connections cannot
  keep a probe, Prometheus or Telegram out: each newcomer pushes the oldest idler out.
- **No lingering**: a request answered before its body was read (a refused webhook POST) closes
  its connection; aiohttp would otherwise read and discard up to 10 s of the unread body.
- No access log, no decompression of request bodies (Telegram sends plain JSON), aiohttp's own
  limits on the request line and headers (8 KB each, 128 headers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

#: Seconds a connection has to deliver a request's headers.
HEADER_TIMEOUT = 10.0
#: Connections open at once per server.
MAX_CONNECTIONS = 256


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The bounds of one server; tests pass short ones."""

    header_timeout: float = HEADER_TIMEOUT
    max_connections: int = MAX_CONNECTIONS


class _Refused(asyncio.Protocol):
    """A connection over the cap with no idle one to make room: closed as soon as accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Connection(asyncio.Protocol):
    """One accepted connection: aiohttp's protocol inside, seen by the cap."""

    def __init__(self, inner: RequestHandler, cap: _ConnectionCap) -> None:
        self.inner = inner
        self.cap = cap
        self.busy = 0  # requests in progress (handler running or answer being sent)
        self.idle_since = time.monotonic()
        self._made = False
        self._closed_before_made = False

    def close(self) -> None:
        """Close the connection; one accepted in the same burst may not be "made" yet."""
        if self._made:
            self.inner.force_close()
        else:
            self._closed_before_made = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._closed_before_made:
            transport.close()
            return
        self._made = True
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[func-returns-value]

    def connection_lost(self, exc: Exception | None) -> None:
        self.cap.forget(self)
        if self._made:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _ConnectionCap:
    """The protocol factory of a server: at most `limit` connections, idlers make room."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        # aiohttp's low-level server, made by the runner's setup (after the middleware is in).
        self.server: web.Server | None = None
        # Counted from the factory, not from connection_made: a burst of connections is
        # accepted in one go before any of them is "made".
        self._open: dict[RequestHandler, _Connection] = {}
        self.evicted = 0
        self.refused = 0

    @property
    def open(self) -> int:
        return len(self._open)

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self._open) >= self._limit and not self._evict_oldest_idle():
            self.refused += 1
            return _Refused()
        assert self.server is not None, "connections come only once the runner is set up"
        inner = self.server()
        connection = _Connection(inner, self)
        self._open[inner] = connection
        return connection

    def forget(self, connection: _Connection) -> None:
        self._open.pop(connection.inner, None)

    def _evict_oldest_idle(self) -> bool:
        idle = [c for c in self._open.values() if c.busy == 0]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.idle_since)
        self.forget(oldest)  # counted out now; its connection_lost comes a moment later
        oldest.close()
        self.evicted += 1
        return True

    @web.middleware
    async def track(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Marks the request's connection busy until its answer is sent (an answer sent after
        the middleware returned could be cut by an eviction in between)."""
        connection = self._open.get(request.protocol)
        if connection is None:
            return await handler(request)
        connection.busy += 1
        try:
            response = await handler(request)
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            connection.busy -= 1
            connection.idle_since = time.monotonic()


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite with the cap's protocol factory in place of the bare server."""

    def __init__(
        self, runner: web.AppRunner, host: str, port: int, cap: Callable[[], asyncio.BaseProtocol]
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._cap = cap

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._cap, self._host, self._port, backlog=self._backlog
        )


class HardenedServer:
    """An aiohttp application served on `listen`:`port` within `limits`.

    Add routes to `app` before `start()`; `port` is the bound port once started (0 asks the
    system for a free one).
    """

    def __init__(self, listen: str, port: int, limits: ServerLimits | None = None) -> None:
        self.listen = listen
        self._requested_port = port
        self.limits = limits or ServerLimits()
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self._cap: _ConnectionCap | None = None

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            return self._requested_port
        return int(self._runner.addresses[0][1])

    @property
    def connections(self) -> int:
        """Connections open now (as the cap counts them)."""
        return 0 if self._cap is None else self._cap.open

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=None,
            # From a connection's opening (and after each answer) to a request's complete
            # headers; aiohttp closes the connection when it runs out with no request.
            keepalive_timeout=self.limits.header_timeout,
            lingering_time=0,
            auto_decompress=False,
        )
        self._cap = _ConnectionCap(self.limits.max_connections)
        self.app.middlewares.append(self._cap.track)
        await runner.setup()
        self._runner = runner
        self._cap.server = runner.server
        try:
            await _CappedSite(runner, self.listen, self._requested_port, self._cap).start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
