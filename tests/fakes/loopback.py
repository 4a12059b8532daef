"""What the HTTP fakes share: an aiohttp server on 127.0.0.1 at a free port, and a change signal.

`LoopbackServer` owns the lifecycle of `FeedServer` and `FakeBotApi` (start, stop, `async with`,
the port); each routes every request to its own `_handle`. `Changes` is the "something happened"
signal their waiters sleep on.
"""

from __future__ import annotations

import asyncio
from typing import Self

from aiohttp import web


class Changes:
    """Wakes everything waiting for a change: an `asyncio.Event` set and replaced on each one.

    Unlike an `asyncio.Condition` it needs no lock, so synchronous code (a test injecting an
    update) can wake the coroutines waiting in the server or in a test's wait helper.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self) -> None:
        """Return at the next `notify`."""
        await self._event.wait()


class LoopbackServer:
    """An aiohttp server on 127.0.0.1, or another loopback `host`, at a random free port, that
    sends every request to `_handle`.

    `path_pattern` is an aiohttp route such as `/{tail:.*}`. While `stopping` is set the server
    is shutting down: `_release_waiters` lets requests it holds answer first.
    """

    def __init__(self, path_pattern: str, *, host: str = "127.0.0.1") -> None:
        self._path_pattern = path_pattern
        self.host = host
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.stopping = False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def _release_waiters(self) -> None:
        """Called as the server stops, before it closes its connections."""

    async def start(self) -> None:
        """Start serving on 127.0.0.1 on a free port."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        app = web.Application()
        app.router.add_route("*", self._path_pattern, self._handle)
        # handler_cancellation: a request whose client went away stops waiting at once.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0
        )
        await runner.setup()
        await web.TCPSite(runner, self.host, 0).start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self.stopping = False

    async def stop(self) -> None:
        """Release the requests held and shut the server down."""
        if self._runner is None:
            return
        self.stopping = True
        self._release_waiters()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._port

    @property
    def origin(self) -> str:
        """`http://HOST:PORT`, HOST 127.0.0.1 unless another loopback address was given."""
        return f"http://{self.host}:{self.port}"
