"""Group commit: writes that wait on a running one share the next, and one bad item fails alone."""

from __future__ import annotations

import asyncio

import pytest

from news.batching import GroupCommit, WriteFailed


class Table:
    """A store that keeps the rows of each write it accepts; a row "bad" makes a write fail."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.first_write_may_finish = asyncio.Event()

    async def write(self, rows: list[str]) -> list[int]:
        if not self.writes:
            await self.first_write_may_finish.wait()
        if "bad" in rows:
            raise RuntimeError("constraint failed\nSQL: INSERT ... (parameters)")
        self.writes.append(rows)
        return [len(row) for row in rows]


async def test_items_that_arrive_during_a_write_go_out_together_in_the_next() -> None:
    table = Table()
    group = GroupCommit(table.write, asyncio.Lock())
    first = asyncio.create_task(group.submit("first"))
    await asyncio.sleep(0)  # the first write has started and waits
    rest = [asyncio.create_task(group.submit(row)) for row in ("a", "bb", "ccc")]
    await asyncio.sleep(0)
    table.first_write_may_finish.set()
    assert await first == 5
    assert await asyncio.gather(*rest) == [1, 2, 3]  # each caller gets its own result
    assert table.writes == [["first"], ["a", "bb", "ccc"]]


async def test_a_failing_item_fails_alone_and_the_others_are_kept() -> None:
    table = Table()
    table.first_write_may_finish.set()
    group = GroupCommit(table.write, asyncio.Lock())
    results = await asyncio.gather(
        *(group.submit(row) for row in ("kept", "bad", "also")), return_exceptions=True
    )
    assert results[0] == 4 and results[2] == 4
    failed = results[1]
    assert isinstance(failed, WriteFailed)
    # The first line only: a database error goes on with the statement and its parameters.
    assert str(failed) == "storage failed: RuntimeError: constraint failed"
    assert table.writes == [["kept"], ["also"]]


async def test_a_write_that_fails_alone_raises_to_its_caller() -> None:
    table = Table()
    table.first_write_may_finish.set()
    group = GroupCommit(table.write, asyncio.Lock())
    with pytest.raises(WriteFailed, match="constraint failed"):
        await group.submit("bad")
    assert await group.submit("fine") == 4  # the group goes on working
