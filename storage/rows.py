"""Row mappers shared by the storage modules: SQL rows in, the domain's dataclasses out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from news.model import Story
from storage.tables import sources, stories

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
    sources.c.title.label("source_title"),
    sources.c.url.label("source_url"),
)


# For the few reads that need a story's whole text: the story card.
STORY_WITH_BODY = (*STORY_COLUMNS, stories.c.body)


def story_from_row(row: Any) -> Story:
    return Story(
        id=row.id,
        source_id=row.source_id,
        source_name=source_name(row.source_title, row.source_url),
        title=row.title,
        summary=row.summary,
        link=row.link,
        published_at=row.published_at,
        first_seen_at=row.first_seen_at,
        language=row.language,
        terms=tuple(row.terms.split()),
        cluster_id=row.cluster_id,
        body=row._mapping.get("body") or "",
    )


def source_name(title: str | None, url: str) -> str:
    """What readers see as a source's name: its feed title, else its host."""
    return title or urlsplit(url).hostname or url


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


MAX_ERROR_TEXT = 2000


def error_text(text: str, secrets: Sequence[str]) -> str:
    """An error message fit for an error column: secrets (the bot token) masked, as in logs,
    and cut to the column's size. Case does not matter: python-telegram-bot capitalises
    Telegram's error descriptions, which lowercases a token quoted in one."""
    for secret in secrets:
        if secret:
            text = re.sub(re.escape(secret), "<TOKEN>", text, flags=re.IGNORECASE)
    return text[:MAX_ERROR_TEXT]


#: PostgreSQL advisory locks: processes starting together on one database take turns.
MIGRATION_LOCK = 0x6E657773_01  # "news", 1
SOURCES_SYNC_LOCK = 0x6E657773_02


async def take_turns(conn: AsyncConnection, key: int) -> None:
    """On PostgreSQL, wait until no other transaction holds `key`; the lock goes with this
    transaction. SQLite needs none: it has one writer at a time anyway."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(key)))
