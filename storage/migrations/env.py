"""Alembic environment: runs migrations on a connection Newsbot hands over, or on DATABASE_URL."""

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from storage.database import create_engine
from storage.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_environment() -> None:
    engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///newsbot.db"))
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    _run(handed_over)
else:
    asyncio.run(_run_from_environment())
