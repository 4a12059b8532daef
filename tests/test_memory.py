"""`newsbot run` hands memory its worker threads freed back to the system (bot.memory)."""

from __future__ import annotations

import threading

import pytest

from bot.memory import _glibc, release_free_memory


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(_glibc() is None, reason="glibc's allocator only (musl, macOS: no-op)")
def test_memory_a_worker_thread_freed_goes_back_after_a_tick() -> None:
    kept: list[bytes] = []

    def work() -> None:
        # A batch's rows: many mid-sized allocations in a thread's own arena, the last one
        # still held, as a tick's clustering or meanings leave them.
        rows = [bytes(2000) for _ in range(60_000)]
        kept.append(rows[-1])
        del rows

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    before = _rss_mb()
    release_free_memory()
    after = _rss_mb()
    assert before - after > 60, (before, after)
    assert kept
