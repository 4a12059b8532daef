"""Group commit: callers that want a write while one runs share the next write.

The poller stores stories and poll records through it, so a busy tick costs a few transactions
instead of two per source; the sender's marks of sent messages do the same. Each caller
still waits for its own result, and a failing group is written again one item at a time, so
only the item that fails by itself gets an error (`WriteFailed`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class WriteFailed(Exception):
    """Storage could not keep one item (its own write failed, not only the group's)."""


class GroupCommit(Generic[Item, Result]):
    """Items that arrive while one write runs go out together in the next.

    `write` takes a list of items and returns one result per item, in order; `lock` is held
    around each write, so several groups sharing it never write at once (SQLite has one
    writer anyway, and concurrent writers there would wait on its busy timeout instead of
    queueing here). On SQLite each transaction is a round of thread hops, statements and a
    commit: grouping turns a tick of a thousand sources into a handful of them.
    """

    def __init__(
        self, write: Callable[[list[Item]], Awaitable[list[Result]]], lock: asyncio.Lock
    ) -> None:
        self._write = write
        self._lock = lock
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Write `item` with whatever else is waiting; its result once the write is done."""
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    async with self._lock:
                        await self._write_group(group)
                except BaseException:
                    for _, done in group:
                        done.cancel()
                    raise
        finally:
            self._flusher = None
            for _, done in self._pending:
                done.cancel()  # only reached when this task itself was cancelled
            self._pending = []

    async def _write_group(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._write([item for item, _ in group])
        except Exception as exc:
            if len(group) == 1:
                _fail(group[0][1], exc)
                return
            for item, done in group:
                try:
                    (result,) = await self._write([item])
                except Exception as alone:
                    _fail(done, alone)
                else:
                    _succeed(done, result)
        else:
            for (_, done), result in zip(group, results, strict=True):
                _succeed(done, result)


def _succeed(done: asyncio.Future[Result], result: Result) -> None:
    if not done.done():
        done.set_result(result)


def _fail(done: asyncio.Future[Result], exception: Exception) -> None:
    if not done.done():
        # The first line: database errors go on with the statement and its parameters.
        first_line = str(exception).split("\n", 1)[0]
        failed = WriteFailed(f"storage failed: {type(exception).__name__}: {first_line}")
        failed.__cause__ = exception
        done.set_exception(failed)
