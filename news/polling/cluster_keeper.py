"""The cluster keeper: keeps the clusterer in step with storage, and storage with the clusterer.

The clusterer (`news.events.clustering`) lives in memory; storage keeps where each story went and
what the clusterer needs to carry on (`news.events.cluster_state`: open clusters' centroids,
clustered stories' signatures). A start loads that state (no story is analysed again, so a start
costs what the open clusters and the window's signatures cost to read). Each placing is a turn
(`Storage.cluster_turn`): the keeper first takes in what other polling processes clustered
since its last turn, then clusters, then stores the assignments and the changed state in one
transaction, so that several pollers on one PostgreSQL database build one set of clusters.

Which stories are placed, and when:
- the stories a poll stores that may still be pushed, at once (before their pushes are
  matched, so a chat gets one message per event);
- a first poll's backlog, and whatever a crash left between storing and clustering, off the
  poll's path (`backlog`);
- stories older than the window, whatever their age, so that every report joins its event
  (`/latest` lists an event once): by a clusterer of their own time, seeded with the clusters
  storage keeps from then. The window bounds pushes and "Also:" edits, not clustering.

Every method writes to storage: callers hold the poller's write lock around them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from news.events import ClusterState
from news.model import ClusterAssignment, Story
from news.ports import Clusters

if TYPE_CHECKING:
    import numpy
    from numpy.typing import NDArray

    from news.events.clustering import Clusterer


class ClusterKeeper:
    """Places stored stories in the clusters of their events and stores where they went."""

    def __init__(
        self,
        storage: Clusters,
        clusterer: Clusterer,
        *,
        new_clusterer: Callable[[], Clusterer] | None = None,
    ) -> None:
        self.storage = storage
        self.clusterer = clusterer
        # A clusterer for the past (stories older than the window): same settings, own clock.
        self._new_clusterer = new_clusterer or (lambda: type(clusterer)(clusterer.window))
        self._loaded = False
        self._version = 0
        # Changes clustered but not yet stored (a failed write): sent again with the next turn.
        self._unsaved = ClusterState()

    async def place(
        self,
        new_stories: Sequence[Story],
        now: datetime,
        *,
        meanings: Mapping[int, NDArray[numpy.float32]] | None = None,
    ) -> None:
        """Cluster freshly stored stories of the window; older ones wait for `backlog`.

        `meanings` are the stories' vectors (`news.meaning`) by id, for linking events across
        languages; a story without one is clustered by its words alone."""
        horizon = now - self.clusterer.window
        recent = [story for story in new_stories if _clustering_time(story) >= horizon]
        if recent:
            await self.load(now)
            await self._place(recent, now, meanings or {})

    async def backlog(self, now: datetime, *, batch: int) -> int:
        """Cluster the stored stories that are not clustered yet, of any age; how many.

        The open clusters are loaded only when there is something to place: a poll that found
        nothing new (every feed 304) costs no load."""
        horizon = now - self.clusterer.window
        done = 0
        while waiting := await self.storage.unclustered_since(horizon, limit=batch):
            await self.load(now)
            await self._place(waiting, now, await self._stored_meanings(waiting))
            done += len(waiting)
        # Older stories, oldest first, each batch by a clusterer of its own time.
        while waiting := await self.storage.unclustered_before(horizon, limit=batch):
            await self._place_past(waiting, now)
            done += len(waiting)
        return done

    async def _stored_meanings(self, stories: Sequence[Story]) -> dict[int, NDArray[numpy.float32]]:
        """The meanings storage keeps of `stories` (those computed before they are clustered
        link them across languages), if it keeps any."""
        read = getattr(self.storage, "meanings", None)
        if read is None:
            return {}
        from news.meaning import unpack  # numpy and the model's module only when used

        blobs: dict[int, bytes] = await read([story.id for story in stories])
        ids = list(blobs)
        return dict(zip(ids, unpack([blobs[i] for i in ids]), strict=True)) if ids else {}

    async def load(self, now: datetime) -> None:
        """Once per keeper, when a story is first to be placed: load the open clusters and the
        window's signatures."""
        if self._loaded:
            return
        # Page by page: the rows read never all sit in memory beside the clusterer.
        async for page in self.storage.cluster_state_pages(open_since=now - self.clusterer.window):
            await asyncio.to_thread(partial(self.clusterer.load, page, now=now))
            self._version = page.version
        self._loaded = True

    async def _place(
        self,
        stories: Sequence[Story],
        now: datetime,
        meanings: Mapping[int, NDArray[numpy.float32]] | None = None,
    ) -> None:
        clusterer = self.clusterer

        def run(synced: ClusterState) -> tuple[list[ClusterAssignment], ClusterState]:
            clusterer.load(synced)  # what other processes clustered since our last turn
            placed = _place(clusterer, stories, meanings or {})
            return placed, self._take_changes(clusterer)

        async def work(synced: ClusterState) -> tuple[list[ClusterAssignment], ClusterState]:
            # CPU work: a thread keeps the bot answering while a big batch is clustered.
            return await asyncio.to_thread(run, synced)

        self._version = await self.storage.cluster_turn(self._version, work, now=now)
        self._unsaved = ClusterState()

    async def _place_past(self, stories: Sequence[Story], now: datetime) -> None:
        """Cluster stories older than the window among the stored clusters of their time."""
        ordered = sorted(stories, key=lambda story: (_clustering_time(story), story.id))
        start = _clustering_time(ordered[0])
        past = self._new_clusterer()
        seeded = await self.storage.cluster_state(open_since=start - past.window, open_until=start)

        def run(synced: ClusterState) -> tuple[list[ClusterAssignment], ClusterState]:
            past.load(seeded)
            placed = _place(past, ordered, {})
            return placed, past.changes()

        async def work(synced: ClusterState) -> tuple[list[ClusterAssignment], ClusterState]:
            return await asyncio.to_thread(run, synced)

        # The live clusterer's cursor is not moved: what it has not seen it reads next turn.
        await self.storage.cluster_turn(self._version, work, now=now)

    def _take_changes(self, clusterer: Clusterer) -> ClusterState:
        changes = clusterer.changes()
        if self._unsaved:
            clusters = {row.id: row for row in self._unsaved.clusters}
            clusters.update((row.id, row) for row in changes.clusters)
            stories = {story.story_id: story for story in self._unsaved.stories}
            stories.update((story.story_id, story) for story in changes.stories)
            changes = ClusterState(list(clusters.values()), list(stories.values()))
        self._unsaved = changes
        return changes


def _clustering_time(story: Story) -> datetime:
    # A feed's date in the future would move the clusterer's clock and close every cluster.
    return min(story.published_at, story.first_seen_at)


def _place(
    clusterer: Clusterer,
    stories: Sequence[Story],
    meanings: Mapping[int, NDArray[numpy.float32]],
) -> list[ClusterAssignment]:
    placed = []
    for story in stories:
        known = clusterer.cluster_of(story.id)  # clustered before, by us or another process
        placed.append(
            ClusterAssignment(
                story.id,
                _add(clusterer, story, meanings.get(story.id)) if known is None else known,
            )
        )
    return placed


def _add(clusterer: Clusterer, story: Story, meaning: NDArray[numpy.float32] | None) -> int:
    """Add `story` to the clusterer; the cluster it joined or opened."""
    return clusterer.add(
        story.id,
        story.title,
        story.summary,
        story.language,
        _clustering_time(story),
        story.source_name,
        terms=story.terms,
        meaning=meaning,
    ).cluster_id
