"""Clusters in storage: each story's event, and the reports that make up each event.

A story's `cluster_id` is the id of the story that opened its cluster (`news.events.clustering`); a
story never clustered stands alone. When a cluster gains a report, the cards pushed for it
become due for an "Also:" edit (`deliveries.edit_due_at`), which the outbox hands out
(`storage.outbox`). Who else reports an event is the domain's to say (`news.events.coverage`):
storage only loads the members.

What the clusterer needs (`news.events.cluster_state`) is kept beside: `clusters` holds each
cluster's centroid, `cluster_stories` each clustered story's signature, both stamped with a version.
`cluster_turn` is how a poller assigns: on PostgreSQL, under an advisory lock held by the
transaction, it reads what other processes wrote since the version the poller last saw, lets
the poller cluster, and writes the assignments, centroids and signatures at the next version,
so that several pollers on one database assign one at a time, each knowing the others' clusters.
SQLite has one poller (one writer): it reads, clusters and writes without the lock.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from news.delivery import EDITABLE_STATES, editable_since
from news.events import ClusterRow, ClusterState, ClusterWork, StorySignature
from news.model import ClusterAssignment, Story
from storage.base import (
    CLUSTER_LOCK,
    STORY_COLUMNS,
    StorageBase,
    chunks,
    read_state,
    select_stories,
    stories_of_clusters,
    story_from_row,
    take_turns,
    write_state,
)
from storage.tables import cluster_stories, clusters, deliveries, stories

VERSION_KEY = "cluster_version"


class ClusterStore(StorageBase):
    """The clusters part of `SqlStorage`."""

    async def assign_clusters(
        self, assignments: Sequence[ClusterAssignment], *, now: datetime
    ) -> None:
        """Record each story's cluster; cards pushed for a cluster that grew become due."""
        if not assignments:
            return
        async with self.begin() as conn:
            await _assign(conn, assignments, now)

    async def cluster_state(
        self,
        *,
        open_since: datetime | None = None,
        open_until: datetime | None = None,
        after_version: int = 0,
    ) -> ClusterState:
        """Cluster rows and story signatures: those of clusters started and stories published
        since `open_since` (and until `open_until`: a start, or a time in the past), or those
        written after `after_version` (a sync)."""
        async with self.connect() as conn:
            return await _read_state(
                conn, open_since=open_since, open_until=open_until, after_version=after_version
            )

    async def cluster_state_pages(
        self, *, open_since: datetime, page: int = 1000
    ) -> AsyncIterator[ClusterState]:
        """The state a start loads (clusters started and stories published since
        `open_since`), `page` rows at a time, so that the rows read never all sit in memory
        beside the clusterer they fill; every page carries the version read first.

        A page's rows are freed once loaded, but the memory they took stays with the process,
        spread among what the clusterer keeps: 1,000 rows a page leave 15 MB less of it than
        5,000 at 100,000 stories, and load as fast."""
        async with self.connect() as conn:
            version = int(await read_state(conn, VERSION_KEY) or 0)
            cluster_query, story_query = _state_queries(open_since, None, 0)
            for query, convert in ((cluster_query, _cluster_row), (story_query, _signature)):
                result = await conn.stream(query.execution_options(yield_per=page))
                async for rows in result.partitions(page):
                    if convert is _cluster_row:
                        yield ClusterState(
                            clusters=[_cluster_row(r) for r in rows], version=version
                        )
                    else:
                        yield ClusterState(stories=[_signature(r) for r in rows], version=version)

    async def cluster_turn(self, after_version: int, work: ClusterWork, *, now: datetime) -> int:
        """Assign in turn with the other pollers (see the module docstring); the version the
        poller has seen once its changes are written."""
        if self.dialect != "postgresql":
            async with self.connect() as conn:
                synced = await _read_state(conn, after_version=after_version)
            assignments, changes = await work(synced)
            async with self.begin() as conn:
                version = await _write_state(conn, changes)
                await _assign(conn, assignments, now)
            return max(version, synced.version)
        async with self.begin() as conn:
            await take_turns(conn, CLUSTER_LOCK)
            synced = await _read_state(conn, after_version=after_version)
            assignments, changes = await work(synced)
            version = await _write_state(conn, changes)
            await _assign(conn, assignments, now)
        return max(version, synced.version)

    async def unclustered_since(self, since: datetime, *, limit: int) -> list[Story]:
        """Stories published since `since` that have no cluster yet, in the order stored."""
        query = (
            select_stories(*STORY_COLUMNS)
            .where(stories.c.published_at >= since, stories.c.cluster_id.is_(None))
            .order_by(stories.c.id)
            .limit(limit)
        )
        async with self.connect() as conn:
            return [story_from_row(row) for row in await conn.execute(query)]

    async def unclustered_before(self, before: datetime, *, limit: int) -> list[Story]:
        """Stories published before `before` that have no cluster yet, oldest first."""
        query = (
            select_stories(*STORY_COLUMNS)
            .where(stories.c.published_at < before, stories.c.cluster_id.is_(None))
            .order_by(stories.c.published_at, stories.c.id)
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


async def _assign(
    conn: AsyncConnection, assignments: Sequence[ClusterAssignment], now: datetime
) -> None:
    if not assignments:
        return
    grown = sorted({cluster for story, cluster in assignments if story != cluster})
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
                # The rule is news.delivery.edit_due's, written as SQL.
                deliveries.c.state.in_(EDITABLE_STATES),
                deliveries.c.created_at > editable_since(now),
            )
            # Written even where already due: the write locks the row, so a concurrent
            # claim (PostgreSQL) either sees this story's outlet or is marked again.
            .values(edit_due_at=func.coalesce(deliveries.c.edit_due_at, now))
        )


def _state_queries(
    open_since: datetime | None, open_until: datetime | None, after_version: int
) -> tuple[Select[Any], Select[Any]]:
    cluster_query = select(
        clusters.c.id,
        clusters.c.language,
        clusters.c.started_at,
        clusters.c.terms,
        clusters.c.weights,
        clusters.c.event_id,
        clusters.c.meaning,
    ).order_by(clusters.c.version, clusters.c.id)
    story_query = select(
        cluster_stories.c.story_id,
        cluster_stories.c.cluster_id,
        cluster_stories.c.language,
        cluster_stories.c.source,
        cluster_stories.c.published_at,
        cluster_stories.c.terms,
        cluster_stories.c.headline,
        cluster_stories.c.signature,
    ).order_by(cluster_stories.c.version, cluster_stories.c.seq)
    if open_since is not None:
        cluster_query = cluster_query.where(clusters.c.started_at >= open_since)
        story_query = story_query.where(cluster_stories.c.published_at >= open_since)
        if open_until is not None:
            cluster_query = cluster_query.where(clusters.c.started_at <= open_until)
            story_query = story_query.where(cluster_stories.c.published_at <= open_until)
    else:
        cluster_query = cluster_query.where(clusters.c.version > after_version)
        story_query = story_query.where(cluster_stories.c.version > after_version)
    return cluster_query, story_query


def _cluster_row(row: Row[Any]) -> ClusterRow:
    return ClusterRow(
        row.id,
        row.language,
        row.started_at,
        row.terms,
        _read(array("d"), row.weights),
        row.event_id,
        bytes(row.meaning) if row.meaning else b"",
    )


def _signature(row: Row[Any]) -> StorySignature:
    return StorySignature(
        row.story_id,
        row.cluster_id,
        row.language,
        row.source,
        row.published_at,
        row.terms,
        row.headline,
        _read(array("I"), row.signature),
    )


async def _read_state(
    conn: AsyncConnection,
    *,
    open_since: datetime | None = None,
    open_until: datetime | None = None,
    after_version: int = 0,
) -> ClusterState:
    version = int(await read_state(conn, VERSION_KEY) or 0)
    if open_since is None and version <= after_version:
        return ClusterState(version=version)
    cluster_query, story_query = _state_queries(open_since, open_until, after_version)
    return ClusterState(
        [_cluster_row(row) for row in await conn.execute(cluster_query)],
        [_signature(row) for row in await conn.execute(story_query)],
        version,
    )


async def _write_state(conn: AsyncConnection, changes: ClusterState) -> int:
    """Write `changes` at the next version; that version (or the current one, if nothing)."""
    current = int(await read_state(conn, VERSION_KEY) or 0)
    if not changes:
        return current
    version = current + 1
    await write_state(conn, VERSION_KEY, str(version))
    # A story this poller clustered but never stored the assignment of (a crash between) is
    # written again: the signature's row is replaced.
    ids = [story.story_id for story in changes.stories]
    for chunk in chunks(ids):
        await conn.execute(delete(cluster_stories).where(cluster_stories.c.story_id.in_(chunk)))
    # Retention may have removed a story between its storing and its clustering.
    alive: set[int] = set()
    for chunk in chunks(ids):
        found = await conn.execute(select(stories.c.id).where(stories.c.id.in_(chunk)))
        alive.update(found.scalars())
    rows = [
        {
            "story_id": story.story_id,
            "cluster_id": story.cluster_id,
            "language": story.language,
            "source": story.source,
            "published_at": story.published_at,
            "terms": story.terms,
            "headline": story.headline,
            "signature": _int_bytes(story.signature),
            "version": version,
            "seq": seq,
        }
        for seq, story in enumerate(changes.stories)
        if story.story_id in alive
    ]
    if rows:
        await conn.execute(insert(cluster_stories), rows)
    cluster_ids = [row.id for row in changes.clusters]
    for chunk in chunks(cluster_ids):
        await conn.execute(delete(clusters).where(clusters.c.id.in_(chunk)))
        found = await conn.execute(select(stories.c.id).where(stories.c.id.in_(chunk)))
        alive.update(found.scalars())
    if any(row.id in alive for row in changes.clusters):
        await conn.execute(
            insert(clusters),
            [
                {
                    "id": row.id,
                    "language": row.language,
                    "started_at": row.started_at,
                    "terms": row.terms,
                    "weights": _float_bytes(row.weights),
                    "version": version,
                    "event_id": row.event_id,
                    "meaning": row.meaning or None,
                }
                for row in changes.clusters
                if row.id in alive
            ],
        )
    return version


# Stored little-endian, whatever the machine, so that any process can read any other's rows.
_SWAP = sys.byteorder != "little"
_Item = TypeVar("_Item", int, float)


def _stored_order(values: array[_Item]) -> array[_Item]:
    """`values` swapped into the stored byte order, or back out of it (one swap does both)."""
    if _SWAP:
        values.byteswap()
    return values


def _read(empty: array[_Item], data: bytes) -> array[_Item]:
    """`empty` filled from the stored bytes `data` (any bytes-like object the driver gives)."""
    empty.frombytes(data)
    return _stored_order(empty)


def _float_bytes(values: Sequence[float]) -> bytes:
    return _stored_order(array("d", values)).tobytes()


def _int_bytes(values: Sequence[int]) -> bytes:
    return _stored_order(array("I", values)).tobytes()
