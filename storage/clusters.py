"""Clusters in storage: each story's event, the outlets that report it, and "Also:" edits.

A story's `cluster_id` is the id of the story that opened its cluster (`news.clustering`). When a
cluster gains a report, the pushed cards of that cluster become due for an edit
(`deliveries.edit_due_at`); `claim_edits` hands them out no more than once a minute per message
and never once the card is older than the cluster window, as Telegram users expect of a message
that changes under their eyes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from news.coverage import outlet_order
from news.model import PushedMessage, Story
from news.policy import EDIT_INTERVAL, EDIT_WINDOW
from storage.rows import STORY_COLUMNS, STORY_WITH_BODY, chunks, source_name, story_from_row
from storage.tables import chats, deliveries, sources, stories


def shown_text(outlets: Sequence[str] | None) -> str | None:
    """How the outlets a card shows are kept in `deliveries.shown_sources`."""
    return None if outlets is None else "\n".join(outlets)


def _shown(text: str | None) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


async def other_outlets_of(
    conn: AsyncConnection, reported: Iterable[Story]
) -> dict[int, tuple[str, ...]]:
    """For each story (by id), the other outlets reporting its event, first reporter first."""
    wanted = list({story.cluster_id for story in reported if story.cluster_id is not None})
    reporters: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    for chunk in chunks(wanted, 500):
        rows = await conn.execute(
            select(
                stories.c.cluster_id,
                stories.c.id,
                stories.c.published_at,
                sources.c.title,
                sources.c.url,
            )
            .join(sources, sources.c.id == stories.c.source_id)
            .where(stories.c.cluster_id.in_(chunk))
        )
        for row in rows:
            reporters[row.cluster_id].append(
                (row.published_at, row.id, source_name(row.title, row.url))
            )
    others: dict[int, tuple[str, ...]] = {}
    for story in reported:
        if story.cluster_id is None:
            continue
        names = outlet_order(reporters[story.cluster_id])
        others[story.id] = tuple(name for name in names if name != story.source_name)
    return others


async def load_claimed(
    conn: AsyncConnection, ids: Sequence[int], *columns: Any
) -> list[tuple[Any, Story, tuple[str, ...]]]:
    """Claimed outbox rows (with `columns`), each with its story and the other outlets of
    the story's event, in row order."""
    rows = list(
        await conn.execute(
            select(deliveries.c.id.label("delivery_id"), *columns, *STORY_COLUMNS)
            .join(stories, stories.c.id == deliveries.c.story_id)
            .join(sources, sources.c.id == stories.c.source_id)
            .where(deliveries.c.id.in_(ids))
            .order_by(deliveries.c.id)
        )
    )
    reported = [story_from_row(row) for row in rows]
    others = await other_outlets_of(conn, reported)
    return [
        (row, story, others.get(story.id, ())) for row, story in zip(rows, reported, strict=True)
    ]


def topics_of(text: str | None) -> tuple[str, ...]:
    """A delivery's matched topics, as `deliveries.topics` keeps them (one per line)."""
    return tuple(text.split("\n")) if text else ()


class ClusterStore:
    """The cluster half of `SqlStorage`."""

    engine: AsyncEngine
    dialect: str

    async def assign_clusters(
        self, assignments: Sequence[tuple[int, int]], *, now: datetime
    ) -> None:
        """Record (story, cluster) pairs; cards pushed for a cluster that grew become due."""
        if not assignments:
            return
        grown = sorted({cluster for story, cluster in assignments if story != cluster})
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(stories)
                .where(stories.c.id == bindparam("story"))
                .values(cluster_id=bindparam("cluster")),
                [{"story": story, "cluster": cluster} for story, cluster in assignments],
            )
            for chunk in chunks(grown, 500):
                members = select(stories.c.id).where(stories.c.cluster_id.in_(chunk))
                await conn.execute(
                    sql_update(deliveries)
                    .where(
                        deliveries.c.story_id.in_(members),
                        deliveries.c.state.in_(("pending", "sending", "sent")),
                        deliveries.c.created_at > now - EDIT_WINDOW,
                    )
                    # Written even where already due: the write locks the row, so a concurrent
                    # claim (PostgreSQL) either sees this story's outlet or is marked again.
                    .values(edit_due_at=func.coalesce(deliveries.c.edit_due_at, now))
                )

    async def clustered_since(self, since: datetime) -> list[Story]:
        """Clustered stories published since `since`, in the order they were stored."""
        query = (
            select(*STORY_COLUMNS)
            .join(sources, sources.c.id == stories.c.source_id)
            .where(stories.c.published_at >= since, stories.c.cluster_id.is_not(None))
            .order_by(stories.c.id)
        )
        async with self.engine.connect() as conn:
            return [story_from_row(row) for row in await conn.execute(query)]

    async def unclustered_since(self, since: datetime, *, limit: int) -> list[Story]:
        """Stories published since `since` that have no cluster yet, in the order stored."""
        query = (
            select(*STORY_COLUMNS)
            .join(sources, sources.c.id == stories.c.source_id)
            .where(stories.c.published_at >= since, stories.c.cluster_id.is_(None))
            .order_by(stories.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [story_from_row(row) for row in await conn.execute(query)]

    async def story(self, story_id: int) -> Story | None:
        query = (
            select(*STORY_WITH_BODY)
            .join(sources, sources.c.id == stories.c.source_id)
            .where(stories.c.id == story_id)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else story_from_row(row)

    async def cluster_members(
        self, cluster_ids: Sequence[int], *, bodies: bool = False
    ) -> dict[int, list[Story]]:
        """The stories of each cluster, first published first (with their bodies if asked)."""
        members: dict[int, list[Story]] = defaultdict(list)
        async with self.engine.connect() as conn:
            for chunk in chunks(sorted(set(cluster_ids)), 500):
                rows = await conn.execute(
                    select(*(STORY_WITH_BODY if bodies else STORY_COLUMNS))
                    .join(sources, sources.c.id == stories.c.source_id)
                    .where(stories.c.cluster_id.in_(chunk))
                    .order_by(stories.c.published_at, stories.c.id)
                )
                for row in rows:
                    members[row.cluster_id].append(story_from_row(row))
        return dict(members)

    async def delivery_topics(self, chat_id: int, story_id: int) -> tuple[str, ...]:
        """The chat's topics that a story was pushed for; empty if it was not pushed there."""
        query = select(deliveries.c.topics).where(
            deliveries.c.chat_id == chat_id, deliveries.c.story_id == story_id
        )
        async with self.engine.connect() as conn:
            return topics_of((await conn.execute(query)).scalar())

    async def claim_edits(
        self,
        now: datetime,
        *,
        limit: int = 100,
        interval: timedelta = EDIT_INTERVAL,
        window: timedelta = EDIT_WINDOW,
    ) -> list[PushedMessage]:
        """Take the pushed cards due for an edit: at most one per message per `interval`.

        A claim clears the due mark (a failed edit sets it again); cards older than `window`,
        digests and rows that were never sent lose the mark for good.
        """
        probe = select(deliveries.c.id).where(deliveries.c.edit_due_at <= now).limit(1)
        async with self.engine.connect() as conn:
            if (await conn.execute(probe)).first() is None:
                return []  # the usual answer, without a write transaction
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(deliveries)
                .where(
                    deliveries.c.edit_due_at <= now,
                    or_(
                        deliveries.c.created_at <= now - window,
                        deliveries.c.state == "failed",
                        and_(deliveries.c.state == "sent", deliveries.c.shown_sources.is_(None)),
                    ),
                )
                .values(edit_due_at=None)
            )
            candidates = (
                select(deliveries.c.id)
                .join(chats, chats.c.id == deliveries.c.chat_id)
                .where(
                    deliveries.c.edit_due_at <= now,
                    deliveries.c.state == "sent",
                    deliveries.c.message_id.is_not(None),
                    chats.c.active,
                    or_(deliveries.c.edited_at.is_(None), deliveries.c.edited_at <= now - interval),
                )
                .order_by(deliveries.c.edit_due_at, deliveries.c.id)
                .limit(limit)
            )
            if self.dialect == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True, of=deliveries)
            claimed = await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id.in_(candidates.scalar_subquery()))
                .values(edit_due_at=None)
                .returning(deliveries.c.id)
            )
            ids = [row.id for row in claimed]
            if not ids:
                return []
            claimed_rows = await load_claimed(
                conn,
                ids,
                deliveries.c.chat_id,
                deliveries.c.message_id,
                deliveries.c.topics,
                deliveries.c.shown_sources,
            )
        return [
            PushedMessage(
                delivery_id=row.delivery_id,
                chat_id=row.chat_id,
                message_id=row.message_id,
                story=story,
                topics=topics_of(row.topics),
                also=also,
                shown=_shown(row.shown_sources),
            )
            for row, story, also in claimed_rows
        ]

    async def mark_edited(
        self,
        delivery_id: int,
        *,
        shown: Sequence[str] | None,
        now: datetime,
        edited: bool = True,
    ) -> None:
        """The card now shows `shown` (`edited`: a request was made, which starts the minute);
        None: the card can no longer be edited (deleted, or refused for good)."""
        values: dict[str, Any] = {"shown_sources": shown_text(shown)}
        if edited:
            values["edited_at"] = now
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(deliveries).where(deliveries.c.id == delivery_id).values(**values)
            )

    async def retry_edit(self, delivery_id: int, *, at: datetime) -> None:
        """An edit that Telegram refused for now is due again at `at`."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sql_update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.edit_due_at.is_(None))
                .values(edit_due_at=at)
            )
