"""Persistence: SQLAlchemy 2 (asyncio) on SQLite or PostgreSQL, full-text search, migrations.

`open_storage(database_url)` is the one factory: it picks the async driver, applies the Alembic
migrations and returns a `SqlStorage`, which implements `news.ports.Storage` and returns the
domain's types, never ORM rows.

`async_url` (checking a `DATABASE_URL`) imports no SQLAlchemy, and the rest is imported when
first used: the settings check the URL in every command, even those that open no database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage.urls import async_url

if TYPE_CHECKING:
    from storage.database import create_engine, open_storage
    from storage.sql_storage import SqlStorage

__all__ = ["SqlStorage", "async_url", "create_engine", "open_storage"]


def __getattr__(name: str) -> Any:
    if name in ("create_engine", "open_storage"):
        from storage import database

        return getattr(database, name)
    if name == "SqlStorage":
        from storage.sql_storage import SqlStorage

        return SqlStorage
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
