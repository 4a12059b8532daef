"""The cluster keeper: keeps the clusterer's window in step with what storage holds.

The clusterer (`news.clustering`) lives in memory; storage keeps where each story went. The
keeper restores the window's clusters from storage once (so a restarted bot keeps them),
places the stories a poll stores that may still be pushed (before their pushes are matched, so
a chat gets one message per event), and clusters a first poll's backlog and whatever a crash
left between storing and clustering, off the poll's path.

Every method writes to storage: callers hold the poller's write lock around them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from news.model import ClusterAssignment, Story
from news.ports import Storage

if TYPE_CHECKING:
    from news.clustering import Clusterer


class ClusterKeeper:
    """Places stored stories in the clusters of their events and stores where they went."""

    def __init__(self, storage: Storage, clusterer: Clusterer) -> None:
        self.storage = storage
        self.clusterer = clusterer
        self._restored = False

    async def place(self, new_stories: Sequence[Story], now: datetime) -> None:
        """Cluster freshly stored stories. Only stories inside the clusterer's window are
        clustered: an older one can no longer be pushed, and stands alone."""
        await self._restore(now)
        horizon = now - self.clusterer.window
        recent = [story for story in new_stories if _clustering_time(story) >= horizon]
        if recent:
            await self._place(recent, now)

    async def backlog(self, now: datetime, *, batch: int) -> int:
        """Cluster the stored stories of the window that are not clustered yet; how many."""
        await self._restore(now)
        done = 0
        while waiting := await self.storage.unclustered_since(
            now - self.clusterer.window, limit=batch
        ):
            await self._place(waiting, now)
            done += len(waiting)
        return done

    async def _place(self, stories: Sequence[Story], now: datetime) -> None:
        # CPU work: a thread keeps the bot answering while a big batch is clustered.
        placed = await asyncio.to_thread(_place, self.clusterer, stories)
        await self.storage.assign_clusters(placed, now=now)

    async def _restore(self, now: datetime) -> None:
        """Once per keeper: replay the window's stored assignments."""
        if not self._restored:
            stored = await self.storage.clustered_since(now - self.clusterer.window)
            await asyncio.to_thread(_replay, self.clusterer, stored)
            self._restored = True


def _clustering_time(story: Story) -> datetime:
    # A feed's date in the future would move the clusterer's clock and close every cluster.
    return min(story.published_at, story.first_seen_at)


def _place(clusterer: Clusterer, stories: Sequence[Story]) -> list[ClusterAssignment]:
    placed = []
    for story in stories:
        known = clusterer.cluster_of(story.id)  # clustered before a crash, never stored
        placed.append(
            ClusterAssignment(story.id, _add(clusterer, story) if known is None else known)
        )
    return placed


def _replay(clusterer: Clusterer, stories: Sequence[Story]) -> None:
    for story in stories:
        if story.id not in clusterer:
            _add(clusterer, story, cluster_id=story.cluster_id)


def _add(clusterer: Clusterer, story: Story, *, cluster_id: int | None = None) -> int:
    """Add `story` to the clusterer (to `cluster_id`, when it was placed before); its cluster."""
    return clusterer.add(
        story.id,
        story.title,
        story.summary,
        story.language,
        _clustering_time(story),
        story.source_name,
        cluster_id=cluster_id,
        terms=story.terms,
    ).cluster_id
