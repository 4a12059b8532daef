"""PostgreSQL's index of the recent stories' terms: a rare topic's newest stories without
reading every story it matches.

A GIN index gives a term's matches in no time order, so the newest five of a rare term's
matches cost reading the row of each (its date is in the row): at 10,000,000 stories over two
years a word in 0.005 % of them has about 500, 500 page reads, about 8 ms of /latest's 10
(bench/bench_latest.py). SQLite does not need this: its FTS5 walks a term's matches in time
order (`storage.search`).

So PostgreSQL keeps a second, partial GIN index on the same column, over the stories published
from a fixed day on (`RECENT_DAYS` to twice that before the newest story): the same word has
about 15-30 matches there. /latest asks the recent stories first (`storage.search.recent_only`)
and the whole archive only when they hold fewer than the page needs: one statement for most
requests, two for a topic with less than a page in the recent weeks; the same answers.

A partial index's predicate is part of its definition, so the index cannot follow the news
day by day: `refresh_recent_search` builds a newer one (`CREATE INDEX CONCURRENTLY`, so stores
go on meanwhile) once the bound falls `2 * RECENT_DAYS` behind the newest story, then drops
the old one. The bound in use is kept in `bot_state`; a process rereads it every few minutes,
and a query with a bound the current index does not cover is still answered right, by the
main index. An archive too short for the split to pay (`SPAN_NEEDED`) gets no such index.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from news.model import Cursor
from news.topics import Topic
from storage.base import StorageBase, read_state, write_state
from storage.tables import stories

logger = logging.getLogger(__name__)

#: The recent index starts this long before the newest story when it is built ...
RECENT_DAYS = timedelta(days=21)
#: ... and is built anew once it starts twice that long before it.
RENEW_AFTER = 2 * RECENT_DAYS
#: The archive must reach back this far before the newest story for a recent index to pay: a
#: shorter one would be most of the main index again.
SPAN_NEEDED = 4 * RECENT_DAYS
#: How often a process rereads the bound in use (another process may have moved it).
REREAD_SECONDS = 300.0

STATE_KEY = "recent_search_from"
INDEX_PREFIX = "ix_stories_search_recent_"
#: The advisory lock that keeps two processes from building the index at once.
_BUILD_LOCK = 0x6E6273_7265
_NEVER = float("-inf")


def asked_from(
    bound: datetime | None, topic: Topic | None, before: Cursor | None
) -> datetime | None:
    """`bound` when the recent stories are worth asking first for a page of `topic`'s stories
    older than `before`, else None: only a search by terms has a rare case to spare (an
    outlet's or the whole stream's newest stories are the date index's first rows), and a page
    that starts before the recent stories has none of them."""
    if bound is None or topic is None or topic.is_outlet:
        return None
    if before is not None and before.published_at <= bound:
        return None
    return bound


def index_name(bound: datetime) -> str:
    return f"{INDEX_PREFIX}{bound:%Y%m%d}"


def bound_for(newest: datetime) -> datetime:
    """The day a recent index built now starts at: `RECENT_DAYS` before the newest story."""
    return (newest - RECENT_DAYS).replace(hour=0, minute=0, second=0, microsecond=0)


class RecentSearch(StorageBase):
    """The part of `SqlStorage` that keeps PostgreSQL's recent index and knows its bound."""

    _recent_from: datetime | None = None
    _recent_read_at: float = _NEVER

    async def recent_bound(self, conn: AsyncConnection) -> datetime | None:
        """The publication time the recent index starts at, None when there is none (SQLite,
        or never built); read through `conn` at most every `REREAD_SECONDS`."""
        if self.dialect != "postgresql":
            return None
        now = time.monotonic()
        if now - self._recent_read_at >= REREAD_SECONDS:
            value = await read_state(conn, STATE_KEY)
            self._recent_from = None if value is None else datetime.fromisoformat(value)
            self._recent_read_at = now
        return self._recent_from

    async def refresh_recent_search(self) -> datetime | None:
        """Build a recent index when none covers the newest `RECENT_DAYS` (see the module's
        docstring) and drop the ones it replaces; the bound in use afterwards. Another process
        building one meanwhile makes this a no-op."""
        if self.dialect != "postgresql":
            return None
        async with self.connect() as conn:
            newest, oldest = (
                await conn.execute(
                    select(func.max(stories.c.published_at), func.min(stories.c.published_at))
                )
            ).one()
            current = await read_state(conn, STATE_KEY)
            present = await _recent_indexes(conn)
        bound = None if current is None else datetime.fromisoformat(current)
        if newest is None or newest - oldest < SPAN_NEEDED:
            return bound
        # Current, unless its index went missing (dropped by hand, a restore without indexes).
        if bound is not None and newest - bound < RENEW_AFTER and index_name(bound) in present:
            return bound
        fresh = bound_for(newest)
        name = index_name(fresh)
        async with self.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not (await conn.execute(select(func.pg_try_advisory_lock(_BUILD_LOCK)))).scalar():
                return bound
            try:
                started = time.monotonic()
                # An interrupted concurrent build leaves an invalid index of that name behind.
                await _drop_invalid(conn, name)
                # The bound is a day we computed, not input: written into the DDL as a literal,
                # as a partial index's predicate must be.
                await conn.execute(
                    text(
                        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON stories "
                        f"USING gin (search) WHERE published_at >= '{fresh.isoformat()}'"
                    )
                )
                await write_state(conn, STATE_KEY, fresh.isoformat())
                for old in await _recent_indexes(conn):
                    if old != name:
                        await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {old}"))
                logger.info(
                    "recent search index: stories from %s on (built in %.1f s)",
                    fresh.date().isoformat(),
                    time.monotonic() - started,
                )
            finally:
                await conn.execute(select(func.pg_advisory_unlock(_BUILD_LOCK)))
        self._recent_from, self._recent_read_at = fresh, time.monotonic()
        return fresh


async def _recent_indexes(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        text("SELECT indexname FROM pg_indexes WHERE tablename = 'stories' AND indexname LIKE :p"),
        {"p": INDEX_PREFIX + "%"},
    )
    return [row.indexname for row in rows]


async def _drop_invalid(conn: AsyncConnection, name: str) -> None:
    invalid = (
        await conn.execute(
            text(
                "SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid "
                "WHERE pg_class.relname = :name AND NOT pg_index.indisvalid"
            ),
            {"name": name},
        )
    ).first()
    if invalid is not None:
        await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
