"""What tests read in storage that the bot itself never needs."""

from __future__ import annotations

from sqlalchemy import func, select

from news.model import DeliveryState
from storage import SqlStorage
from storage.tables import deliveries


async def delivery_states(storage: SqlStorage) -> dict[DeliveryState, int]:
    """How many outbox rows are in each state."""
    query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
    async with storage.engine.connect() as conn:
        return {row[0]: row[1] for row in await conn.execute(query)}
