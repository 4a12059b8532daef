"""Keeping a long-running process's memory near what it holds (glibc's allocator).

A bot that runs for weeks does its CPU work in worker threads (clustering, meanings, parsing),
and glibc gives each thread that allocates an arena of its own, up to eight per core: freed
memory stays in whichever arena held it, so the resident size creeps towards the sum of every
arena's high-water mark. `newsbot run` caps the arenas at two and hands free pages back after
each scheduler tick. Measured with bench/bench_cluster_start.py (docs/benchmarks.md). Elsewhere
than glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

logger = logging.getLogger(__name__)

#: mallopt's parameter number for the most arenas (glibc's malloc.h).
_M_ARENA_MAX = -8
#: Arenas `newsbot run` allows: the event loop's and one the worker threads share.
ARENAS = 2


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only: musl has no mallopt
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the allocator's arenas (before the process starts its threads); whether it took."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Hand the allocator's free pages back to the system; whether any were."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))
