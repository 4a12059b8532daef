"""The jobs a role repeats (poll, send, prune, report), each as an asyncio task of its own.

`Loops.start(name, job, every=…)` runs `job` at once (or after `first`) and then every `every`,
one tick at a time: a tick that overruns its period is followed by the next at once, never by
two. `Loops.stop()` lets a running tick finish — a sender stopped mid-send would otherwise leave
its rows claimed until the lease ends — and cancels only the waits between ticks.

A failing tick is one log line a minute (`JobHealth`), not a traceback a tick; the next tick
catches up. `JobHealth` also remembers when each job last showed life — a tick that finished,
or progress a long tick reports (`beat`, e.g. each batch of a fan-out) — which is what
`/healthz` asks ("did the role's loops tick recently?", `stale_loops`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from telegram.error import BadRequest, NetworkError

from news.errors import StorageError

logger = logging.getLogger(__name__)

FAILURE_LOG_EVERY = 60.0
#: A watched loop that showed no life for this long, or three of its periods when longer, is
#: stuck (/healthz says 503). Generous: a first poll of thousands of feeds takes a while.
STALE_AFTER = timedelta(minutes=5)


def is_outage(error: BaseException) -> bool:
    """The database or the Bot API is unreachable, locked or full: not a bug in the bot."""
    if isinstance(error, NetworkError):
        return not isinstance(error, BadRequest)
    return isinstance(error, StorageError | OSError)


class JobHealth:
    """Runs jobs so that a failing one is one log line a minute, not a traceback a tick, says
    when it works again, and remembers when each showed life.

    An outage (`is_outage`) is logged without its traceback; anything else is a bug and keeps
    its traceback, still at most once a minute per job.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._failing: dict[str, tuple[float, float]] = {}  # job → (failing since, logged at)
        self._alive: dict[str, float] = {}  # job → when it last finished or made progress

    async def run(self, name: str, job: Callable[[], Awaitable[None]]) -> bool:
        """Run `job`; True when it finished, False when it failed (and was logged)."""
        try:
            await job()
        except Exception as error:
            now = self.monotonic()
            since, logged = self._failing.get(name, (now, float("-inf")))
            if now - logged >= FAILURE_LOG_EVERY:
                first_line = (str(error).splitlines() or [""])[0]
                logger.error(
                    "%s failed (%s: %s)%s; trying again",
                    name,
                    type(error).__name__,
                    first_line,
                    f" for {now - since:.0f} s" if now > since else "",
                    exc_info=None if is_outage(error) else error,
                )
                logged = now
            self._failing[name] = (since, logged)
            return False
        self.beat(name)
        if (failing := self._failing.pop(name, None)) is not None:
            logger.info("%s works again after %.0f s", name, self.monotonic() - failing[0])
        return True

    def beat(self, name: str) -> None:
        """`name` is alive: a tick finished, or a long one made progress."""
        self._alive[name] = self.monotonic()

    def silent_for(self, name: str) -> float | None:
        """Seconds since `name` last showed life; None if it never did."""
        alive = self._alive.get(name)
        return None if alive is None else self.monotonic() - alive


@dataclass(frozen=True, slots=True)
class _Watched:
    started: float
    stale_after: float


class Loops:
    """Repeating jobs of one process, started and stopped together."""

    def __init__(
        self,
        health: JobHealth,
        *,
        on_tick: Callable[[str, float], None] = lambda name, seconds: None,
    ) -> None:
        self.health = health
        self._on_tick = on_tick
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watched: dict[str, _Watched] = {}
        self._jobs: dict[str, tuple[Callable[[], Awaitable[None]], timedelta]] = {}

    def start(
        self,
        name: str,
        job: Callable[[], Awaitable[None]],
        *,
        every: timedelta,
        first: timedelta = timedelta(0),
        watched: bool = True,
        guarded: bool = True,
    ) -> None:
        """Run `job` after `first`, then every `every`; a `watched` loop counts for /healthz.

        A `guarded` job runs under `JobHealth` as `name`; an unguarded one guards its parts
        itself (the poll tick: polling, then sending), under their own names.
        """
        tick = job
        if guarded:

            async def tick() -> None:
                await self.health.run(name, job)

        if watched:
            stale = max(STALE_AFTER, 3 * every).total_seconds()
            self._watched[name] = _Watched(self.health.monotonic(), stale)
        self._jobs[name] = (tick, every)
        self._tasks.append(
            asyncio.create_task(self._repeat(name, tick, every, first), name=f"loop:{name}")
        )

    def __contains__(self, name: str) -> bool:
        return name in self._jobs

    def period(self, name: str) -> timedelta:
        """How often loop `name` ticks."""
        return self._jobs[name][1]

    async def run_once(self, name: str) -> None:
        """One tick of loop `name` now, beside its schedule (for tests and operators)."""
        await self._jobs[name][0]()

    def stale_loops(self) -> dict[str, str]:
        """The watched loops that showed no life for too long, each with what is wrong."""
        stale: dict[str, str] = {}
        now = self.health.monotonic()
        for name, watched in self._watched.items():
            silent = self.health.silent_for(name)
            if silent is None and now - watched.started > watched.stale_after:
                stale[name] = f"no tick finished in the {now - watched.started:.0f} s since start"
            elif silent is not None and silent > watched.stale_after:
                stale[name] = f"no tick finished for {silent:.0f} s"
        return stale

    def last_ticks(self) -> dict[str, float | None]:
        """Seconds since each watched loop last showed life (None: not yet)."""
        return {name: self.health.silent_for(name) for name in self._watched}

    async def stop(self) -> None:
        """Stop every loop; a tick in progress finishes first."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _repeat(
        self, name: str, job: Callable[[], Awaitable[None]], every: timedelta, first: timedelta
    ) -> None:
        if await self._stopped_within(first.total_seconds()):
            return
        while True:
            started = time.monotonic()
            await job()
            took = time.monotonic() - started
            self._on_tick(name, took)
            if await self._stopped_within(max(every.total_seconds() - took, 0.0)):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait `seconds`; True as soon as the loops are stopping."""
        if self._stopping.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()
