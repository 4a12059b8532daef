"""Persistence: SQLAlchemy 2 (asyncio) on SQLite or PostgreSQL, full-text search, migrations.

`open_storage(database_url)` is the one factory: it picks the async driver, applies the Alembic
migrations and returns a `SqlStorage`, which implements `news.ports.Storage` and returns the
domain's types, never ORM rows.
"""

from storage.database import async_url, create_engine, open_storage
from storage.sql_storage import SqlStorage

__all__ = ["SqlStorage", "async_url", "create_engine", "open_storage"]
