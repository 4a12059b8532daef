"""What tests read in storage that the bot itself never needs."""

from __future__ import annotations

from sqlalchemy import func, select

from news.model import Cursor, DeliveryState, Story
from news.topics import parse_topic
from storage import SqlStorage
from storage.tables import deliveries


async def delivery_states(storage: SqlStorage) -> dict[DeliveryState, int]:
    """How many outbox rows are in each state."""
    query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
    async with storage.engine.connect() as conn:
        return {row[0]: row[1] for row in await conn.execute(query)}


async def all_pages(storage: SqlStorage, raw: str, page: int) -> list[Story]:
    """Every story `Storage.latest` finds for the topic `raw`, page after page of `page`, each
    from the cursor where the previous one ended."""
    topic = parse_topic(raw)
    found: list[Story] = []
    before = None
    while True:
        batch = await storage.latest(topic, limit=page, before=before)
        found += batch
        if len(batch) < page:
            return found
        before = Cursor(batch[-1].published_at, batch[-1].id)
