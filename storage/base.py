"""The base every storage aggregate builds on: the engine, transactions that speak the domain's
errors, and what more than one aggregate reads or writes.

`SqlStorage` is one class per aggregate (`storage.sources`, `.stories`, `.clusters`, `.chats`,
`.outbox`, `.retention`), each a `StorageBase`. They share only what this module offers, in
public: story and source rows, the stories of clusters, facts about the database (`bot_state`),
error texts fit for a column, and the advisory locks by which processes take turns.

Every public storage method runs its statements inside `begin()` (one transaction) or
`connect()` (reads), which turn the database's errors into `news.errors.StorageError`: no
SQLAlchemy or driver exception crosses the port.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Result, Row, func, insert, literal, select, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from news.errors import StorageError
from news.model import Cursor, Source, Story
from storage.tables import bot_state, sources, stories

#: The longest error text an error column keeps.
MAX_ERROR_TEXT = 2000
#: Ids per `IN (…)` list: well below SQLite's limit on bound parameters.
CHUNK = 500
#: PostgreSQL advisory locks (`take_turns`), one key per kind of work; "news" and a number.
MIGRATION_LOCK = 0x6E657773_01
SOURCES_SYNC_LOCK = 0x6E657773_02
CLUSTER_LOCK = 0x6E657773_03


@contextmanager
def storage_errors() -> Iterator[None]:
    """Raise the database's errors as `StorageError`, the driver's exception as the cause.

    The database's errors are the driver's (which SQLAlchemy wraps in `DBAPIError`: locked,
    constraint, connection lost), a pool with no connection to give, and a socket that does
    not connect. SQLAlchemy's other errors are about a statement, which is a bug: they pass.
    """
    try:
        yield
    except (DBAPIError, PoolTimeout, OSError) as exc:
        first_line = (str(exc).splitlines() or [""])[0]
        if not isinstance(exc, DBAPIError):  # a DBAPIError's text names the driver's error
            first_line = f"{type(exc).__name__}: {first_line}"
        raise StorageError(first_line) from exc


class StorageBase:
    """The engine, its transactions, and the secrets no error text may keep."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.secrets: tuple[str, ...] = ()

    def never_store(self, secret: str) -> None:
        """Mask `secret` (the bot token) in every error text written from now on."""
        if secret and secret not in self.secrets:
            self.secrets = (*self.secrets, secret)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed when the block ends; database errors as `StorageError`."""
        with storage_errors():
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; database errors as `StorageError`."""
        with storage_errors():
            async with self.engine.connect() as conn:
                yield conn

    def error_text(self, text: str) -> str:
        """An error message fit for an error column: secrets (the bot token) masked, as in logs,
        and cut to the column's size. Case does not matter: python-telegram-bot capitalises
        Telegram's error descriptions, which lowercases a token quoted in one."""
        for secret in self.secrets:
            if secret:
                text = re.sub(re.escape(secret), "<TOKEN>", text, flags=re.IGNORECASE)
        return text[:MAX_ERROR_TEXT]


def _story_order_at(cursor: Cursor) -> tuple[Any, Any]:
    """A story's place in the (published_at, id) order, and `cursor`'s, as row values.

    A row comparison: PostgreSQL starts its walk of a (…, published_at, id) index at the cursor,
    where the equivalent OR made it walk from the newest story and skip every row above it."""
    return tuple_(stories.c.published_at, stories.c.id), tuple_(
        literal(cursor.published_at, stories.c.published_at.type),
        literal(cursor.story_id, stories.c.id.type),
    )


def older_than(cursor: Cursor) -> ColumnElement[bool]:
    """Stories before `cursor` in the (published_at, id) order: the next page's."""
    story, at = _story_order_at(cursor)
    return story < at  # type: ignore[no-any-return]


def at_or_newer_than(cursor: Cursor) -> ColumnElement[bool]:
    """Stories at or after `cursor` in the (published_at, id) order: listed on a page above."""
    story, at = _story_order_at(cursor)
    return story >= at  # type: ignore[no-any-return]


def chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def source_name(title: str | None, url: str) -> str:
    """What readers see as a source's name: its feed title, else its host."""
    return title or urlsplit(url).hostname or url


_SOURCE_FIELDS = tuple(field.name for field in fields(Source))


def _source_reader(columns: Sequence[str]) -> Callable[[Row[Any]], Source]:
    """Rows with these columns as `Source`s: the columns looked up once, not per row (a
    thousand sources are read at every poll's start)."""
    wanted = [(name, columns.index(name)) for name in _SOURCE_FIELDS if name in columns]
    return lambda row: Source(**{name: row[index] for name, index in wanted})


def source_from_row(row: Row[Any]) -> Source:
    """A `sources` row (with its `stories_count` when the query counted) as a `Source`."""
    return _source_reader(row._fields)(row)


def sources_from_rows(rows: Result[Any]) -> list[Source]:
    """`source_from_row` for every row of `rows`."""
    read = _source_reader(list(rows.keys()))
    return [read(row) for row in rows]


# Stories as readers see them: with their source's name.
STORY_COLUMNS = (
    stories.c.id,
    stories.c.source_id,
    stories.c.title,
    stories.c.summary,
    stories.c.link,
    stories.c.published_at,
    stories.c.first_seen_at,
    stories.c.language,
    stories.c.terms,
    stories.c.cluster_id,
    stories.c.image_url,
    sources.c.title.label("source_title"),
    sources.c.url.label("source_url"),
)
# For the few reads that need a story's whole text: the story card.
STORY_WITH_BODY = (*STORY_COLUMNS, stories.c.body)


# The fields a story row carries as they are; its source's name and its body are made.
_STORY_FIELDS = tuple(
    field.name for field in fields(Story) if field.name not in ("source_name", "body")
)


def story_from_row(row: Any) -> Story:
    """A row of `STORY_COLUMNS` (or `STORY_WITH_BODY`) as the domain's `Story`."""
    values = row._mapping
    return Story(
        **{name: values[name] for name in _STORY_FIELDS},
        source_name=source_name(values["source_title"], values["source_url"]),
        body=values.get("body") or "",
    )


def select_stories(*columns: Any) -> Any:
    """`SELECT columns FROM stories JOIN sources`: story rows with their source's name."""
    return select(*columns).join(sources, sources.c.id == stories.c.source_id)


async def stories_of_clusters(
    conn: AsyncConnection, cluster_ids: Iterable[int], *, bodies: bool = False
) -> dict[int, list[Story]]:
    """The stories of each cluster, first published first (with their bodies if asked)."""
    members: dict[int, list[Story]] = defaultdict(list)
    for chunk in chunks(sorted(set(cluster_ids))):
        rows = await conn.execute(
            select_stories(*(STORY_WITH_BODY if bodies else STORY_COLUMNS))
            .where(stories.c.cluster_id.in_(chunk))
            .order_by(stories.c.published_at, stories.c.id)
        )
        for row in rows:
            members[row.cluster_id].append(story_from_row(row))
    return dict(members)


async def read_state(conn: AsyncConnection, key: str) -> str | None:
    """A fact about the database as a whole (`bot_state`), or None when it was never written."""
    return (await conn.execute(select(bot_state.c.value).where(bot_state.c.key == key))).scalar()


async def write_state(conn: AsyncConnection, key: str, value: str) -> None:
    """Keep a fact about the database as a whole under `key`."""
    updated = await conn.execute(
        update(bot_state).where(bot_state.c.key == key).values(value=value)
    )
    if not updated.rowcount:
        await conn.execute(insert(bot_state).values(key=key, value=value))


async def take_turns(conn: AsyncConnection, key: int) -> None:
    """On PostgreSQL, wait until no other transaction holds the advisory lock `key`; the lock
    goes with this transaction. SQLite needs none: it has one writer at a time anyway."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(key)))
