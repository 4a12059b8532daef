"""Politeness per host: at most one request every few seconds, and a pause when asked for one.

`HostPace` is shared by everything that reaches a host: the article reader waits for its turn,
and the feed poller notes its own requests (`note`), so a feed's poll and its articles' pages
together keep the pace. A 429 or 503 answer (with or without Retry-After) pauses the host
(`pause`). Time is injected (`clock`, `sleep`) so tests never wait on the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: The least time between two requests to one host.
DEFAULT_INTERVAL = 5.0
# Hosts remembered at most: the oldest are forgotten (their next visit is then not delayed).
_MAX_HOSTS = 10_000


class HostPace:
    """When each host may next be asked for something."""

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}

    def _key(self, host: str) -> str:
        return host.lower().rstrip(".")

    def _set(self, host: str, when: float) -> None:
        key = self._key(host)
        self._next.pop(key, None)
        self._next[key] = when
        if len(self._next) > _MAX_HOSTS:
            del self._next[next(iter(self._next))]

    def delay(self, host: str) -> float:
        """Seconds until `host` may be asked again (0 when it may be now)."""
        return max(0.0, self._next.get(self._key(host), 0.0) - self._clock())

    def note(self, host: str) -> None:
        """Record a request made to `host` now by someone else (a feed poll)."""
        now = self._clock()
        self._set(host, max(now + self.interval, self._next.get(self._key(host), 0.0)))

    def pause(self, host: str, seconds: float) -> None:
        """Ask nothing of `host` for `seconds` (its Retry-After, or a backoff after 429/503)."""
        now = self._clock()
        self._set(host, max(now + seconds, self._next.get(self._key(host), 0.0)))

    async def wait_for(self, host: str) -> None:
        """Wait for `host`'s turn, and take it: callers waiting together go one by one."""
        now = self._clock()
        turn = max(now, self._next.get(self._key(host), 0.0))
        self._set(host, turn + self.interval)
        if turn > now:
            await self._sleep(turn - now)
