"""Parsing large feeds outside the bot's process, so that the bot keeps answering meanwhile.

Parsing is CPU work under the GIL: a thread keeps it off the event loop only in name, because
the loop then waits for the GIL at every turn, and a 10 MB feed keeps commands waiting for
seconds. So with the default `NEWSBOT_PARSE_WORKERS=0` a feed whose body is over
`LARGE_FEED_BYTES` is parsed in a worker process of its own (the body is sent to it, stories
come back), while the usual small feeds still parse in a thread, where they cost less than
sending them to a process would.

`LazyProcessPool` is that worker: spawned on the first large feed (a bot that never meets one
never starts it), and started again should it die (a crashed worker fails only the feed it was
parsing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import ParamSpec, TypeVar

#: A body above this many bytes is parsed in a worker process when no parse workers are set.
LARGE_FEED_BYTES = 1024 * 1024

P = ParamSpec("P")
T = TypeVar("T")


class LazyProcessPool(Executor):
    """A pool of spawned worker processes, started on first use and again if it broke."""

    def __init__(self, workers: int = 1) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the bot's process holds an event loop, threads and open connections.
        self._pool = ProcessPoolExecutor(self._workers, mp_context=get_context("spawn"))
        return self._pool

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            pool = self._pool or self._start()
            try:
                return pool.submit(fn, *args, **kwargs)
            except BrokenProcessPool:
                pool.shutdown(wait=False)
                return self._start().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
