"""Engines and migrations: from a `DATABASE_URL` to a migrated database and a `SqlStorage`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.base import MIGRATION_LOCK, take_turns
from storage.sql_storage import SqlStorage
from storage.urls import async_url

_MIGRATIONS = Path(__file__).parent / "migrations"


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets /latest read while the poller writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(database_url: str, **options: Any) -> AsyncEngine:
    """An async engine for `database_url` (sqlite:// or postgresql://, any driver suffix)."""
    url = async_url(database_url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    # Statements are prepared (asyncpg), and after five runs PostgreSQL may keep one generic
    # plan for every topic: one that cannot tell a rare term from a common one, and walks the
    # whole date index for a rare term (seconds at 10 million stories; bench/bench_latest.py).
    # Each run is planned for its own topic instead (well under a millisecond).
    connect_args = options.pop("connect_args", {})
    server_settings = {"plan_cache_mode": "force_custom_plan"}
    server_settings.update(connect_args.get("server_settings", {}))
    return create_async_engine(
        url,
        pool_pre_ping=True,
        connect_args={**connect_args, "server_settings": server_settings},
        **options,
    )


def head_revision() -> str:
    """The newest migration's revision id, from the file names (`0007_delivery_indexes.py`).

    Reading names instead of importing Alembic keeps a command's start-up short when the schema
    is already current; tests check it against Alembic's own answer.
    """
    names = (path.name for path in (_MIGRATIONS / "versions").glob("[0-9]*_*.py"))
    return max(name.split("_", 1)[0] for name in names)


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` on an open (sync) connection."""
    from alembic import command  # imported only when a migration is due: it costs ~0.5 s
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def _current_revision(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return result.scalar_one_or_none()
    except DBAPIError:  # no alembic_version table yet: a new database
        return None


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision (a no-op read when it is current).

    Processes started together on a new PostgreSQL database (`newsbot run --role …`) migrate
    one at a time: the others wait, then find nothing left to do (Alembic starts from the
    revision it reads).
    """
    if await _current_revision(engine) == head_revision():
        return
    async with engine.begin() as connection:
        await take_turns(connection, MIGRATION_LOCK)
        await connection.run_sync(upgrade)


async def open_storage(database_url: str) -> SqlStorage:
    """Create the engine, apply migrations and return a ready `SqlStorage`."""
    engine = create_engine(database_url)
    await migrate(engine)
    return SqlStorage(engine)
