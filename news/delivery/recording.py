"""Recording sent messages: retried until the database takes them, whatever it says.

A message that is out must be recorded: giving up would leave its rows claimed and, after the
lease, send them again. So a mark waits through a locked database, a lost connection or a full
disk, retried from half a second, doubling up to half a minute (`news.policy`), and whoever
submitted it waits with it — the sender holds its slot of the unrecorded window meanwhile, so
the messages sent but not recorded stay few. Many senders' marks share one transaction
(`news.batching.GroupCommit`). One log line a minute for all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from news.batching import GroupCommit, WriteFailed
from news.model import SentRow
from news.policy import RECORD_RETRY_FIRST, RECORD_RETRY_MAX

logger = logging.getLogger(__name__)

#: At most one "could not record" line this often, in seconds.
RECORD_LOG_EVERY = 60.0

# A sent message to record: its outbox rows, its message id, the outlets its card names.
_SentMark = tuple[list[int], int, tuple[str, ...] | None]


class SentLog:
    """Records sent messages through `write` (storage's `mark_sent_many`, with the time)."""

    def __init__(
        self,
        write: Callable[[list[SentRow]], Awaitable[None]],
        *,
        sleep: Callable[[float], Awaitable[None]],
        monotonic: Callable[[], float],
    ) -> None:
        self._write = write
        self._marks: GroupCommit[_SentMark, None] = GroupCommit(self._write_marks, asyncio.Lock())
        self._sleep = sleep
        self._monotonic = monotonic
        # Recording sent messages fails (the database is locked or gone) since this moment.
        self._failing_since: float | None = None
        self._logged_at = 0.0

    async def _write_marks(self, marks: list[_SentMark]) -> list[None]:
        await self._write(
            [SentRow(row, message_id, shown) for ids, message_id, shown in marks for row in ids]
        )
        return [None] * len(marks)

    async def record(self, ids: list[int], message_id: int, shown: tuple[str, ...] | None) -> None:
        """Record the rows `ids` as sent in `message_id` (the card naming `shown`; None for a
        digest), retrying until the database takes it."""
        delay = RECORD_RETRY_FIRST
        while True:
            try:
                await self._marks.submit((ids, message_id, shown))
            except WriteFailed as failed:  # any storage failure: see the module docstring
                error = failed.__cause__ or failed
                now = self._monotonic()
                if self._failing_since is None or now - self._logged_at >= RECORD_LOG_EVERY:
                    logger.warning(
                        "could not record %d sent messages (%s: %s); retrying",
                        len(ids),
                        type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "",
                    )
                    self._logged_at = now
                if self._failing_since is None:
                    self._failing_since = now
                await self._sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX)
                continue
            if self._failing_since is not None:
                logger.info(
                    "recorded %d sent messages after %.0f s",
                    len(ids),
                    self._monotonic() - self._failing_since,
                )
                self._failing_since = None
            return
