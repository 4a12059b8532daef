"""Clusters in storage: each story's event, and the reports that make up each event.

A story's `cluster_id` is the id of the story that opened its cluster (`news.clustering`); a
story never clustered stands alone. When a cluster gains a report, the cards pushed for it
become due for an "Also:" edit (`deliveries.edit_due_at`), which the outbox hands out
(`storage.outbox`). Who else reports an event is the domain's to say (`news.coverage`): storage
only loads the members.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from news.model import ClusterAssignment, Story
from news.policy import EDIT_WINDOW
from storage.base import (
    STORY_COLUMNS,
    StorageBase,
    chunks,
    select_stories,
    stories_of_clusters,
    story_from_row,
)
from storage.tables import deliveries, stories


class ClusterStore(StorageBase):
    """The clusters part of `SqlStorage`."""

    async def assign_clusters(
        self, assignments: Sequence[ClusterAssignment], *, now: datetime
    ) -> None:
        """Record each story's cluster; cards pushed for a cluster that grew become due."""
        if not assignments:
            return
        grown = sorted({cluster for story, cluster in assignments if story != cluster})
        async with self.begin() as conn:
            await conn.execute(
                update(stories)
                .where(stories.c.id == bindparam("story"))
                .values(cluster_id=bindparam("cluster")),
                [{"story": story, "cluster": cluster} for story, cluster in assignments],
            )
            for chunk in chunks(grown):
                members = select(stories.c.id).where(stories.c.cluster_id.in_(chunk))
                await conn.execute(
                    update(deliveries)
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
        return await self._published_since(since, clustered=True)

    async def unclustered_since(self, since: datetime, *, limit: int) -> list[Story]:
        """Stories published since `since` that have no cluster yet, in the order stored."""
        return await self._published_since(since, clustered=False, limit=limit)

    async def _published_since(
        self, since: datetime, *, clustered: bool, limit: int | None = None
    ) -> list[Story]:
        cluster = stories.c.cluster_id
        query = (
            select_stories(*STORY_COLUMNS)
            .where(
                stories.c.published_at >= since,
                cluster.is_not(None) if clustered else cluster.is_(None),
            )
            .order_by(stories.c.id)
            .limit(limit)
        )
        async with self.connect() as conn:
            return [story_from_row(row) for row in await conn.execute(query)]

    async def cluster_members(
        self, cluster_ids: Sequence[int], *, bodies: bool = False
    ) -> dict[int, list[Story]]:
        """The stories of each cluster, first published first (with their bodies if asked)."""
        async with self.connect() as conn:
            return await stories_of_clusters(conn, cluster_ids, bodies=bodies)
