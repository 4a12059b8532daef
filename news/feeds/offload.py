"""Parsing feeds outside the bot's process, so that the bot keeps answering meanwhile.

Parsing is CPU work under the GIL: a thread keeps it off the event loop only in name, because
the loop then waits for the GIL at every turn, and a 10 MB feed keeps commands waiting for
seconds. So with the default `NEWSBOT_PARSE_WORKERS=0` (automatic), feeds are parsed in worker
processes (the body is sent to one, stories come back)
- when the body is over `LARGE_FEED_BYTES`, and
- when more than `BULK_SOURCES` sources are polled at once (a first poll, `newsbot poll
  --once`, a tick after a pause): then parsing is most of the work, and `default_workers()`
  processes parse on every core while the event loop fetches and writes;
the usual few small feeds of a tick still parse in a thread, where they cost less than sending
them to a process would.

`LazyProcessPool` is that pool: its workers are spawned on first use (a bot that never meets a
large feed or a busy tick never starts one), and started again should one die (a crashed worker
fails only the feed it was parsing).

What a worker sends back must be unpickled in the bot's process, and one `pickle.loads` of ten
thousand stories holds the GIL (and so the event loop) for a long moment. So a worker parses
with `parse_in_chunks`, which pickles the stories in batches of `CHUNK_ENTRIES`, and the bot
takes them back with `unpickle_chunks`, letting the loop run between batches.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from datetime import datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from news.feeds.parse import ParsedEntry, ParsedFeed

#: A body above this many bytes is parsed in a worker process when no parse workers are set.
LARGE_FEED_BYTES = 1024 * 1024
#: More sources than this polled at once are parsed in worker processes, whatever their size.
BULK_SOURCES = 20
#: Stories per pickled batch sent back by a worker: a few milliseconds of unpickling each.
CHUNK_ENTRIES = 250

P = ParamSpec("P")
T = TypeVar("T")


def default_workers() -> int:
    """Parse workers when none are configured: one per core, at most 4 (beyond that a worker's
    memory costs more than its share of a tick saves)."""
    return max(1, min(os.cpu_count() or 1, 4))


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


def parse_in_chunks(
    body: bytes, *, url: str, headers: Mapping[str, str] | None, now: datetime
) -> tuple[ParsedFeed, list[bytes]]:
    """`parse_feed` in a worker: the feed without its entries, and the entries pickled in
    batches."""
    from news.feeds.parse import parse_feed  # in the worker: the bot's process needs no parser

    feed = parse_feed(body, url=url, headers=headers, now=now)
    entries = feed.entries
    chunks = [
        pickle.dumps(entries[start : start + CHUNK_ENTRIES], pickle.HIGHEST_PROTOCOL)
        for start in range(0, len(entries), CHUNK_ENTRIES)
    ]
    return replace(feed, entries=[]), chunks


async def unpickle_chunks(feed: ParsedFeed, chunks: list[bytes]) -> ParsedFeed:
    """The feed `parse_in_chunks` sent, its entries unpickled batch by batch between turns of
    the event loop. The bytes come from Newsbot's own worker process."""
    entries: list[ParsedEntry] = []
    for chunk in chunks:
        entries.extend(pickle.loads(chunk))
        await asyncio.sleep(0)
    return replace(feed, entries=entries)
