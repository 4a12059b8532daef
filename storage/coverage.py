"""Each event's outlets as storage keeps them, read without loading the event's reports.

`cluster_coverage` holds one row per (cluster, source): how many reports the source has in the
cluster and its first one, kept right by triggers on `stories` whatever writes them (the
clusterer's assignments, merges and splits, retention, a source's removal; migration 0016);
`cluster_outlets` the number of those rows per cluster, kept by triggers on `cluster_coverage`.
From it come, at a cost that does not grow with the event:

- a list entry's outlets: the first few outlets' first reports and the number of outlets,
  read with each page of /latest's search (`storage.listing`), from which
  `news.events.coverage` picks the lead and "+N sources";
- a story card's other outlets: the first few other outlets' first reports, with their text,
  and how many other outlets there are (`other_first_reports`);
- the names a pushed card's "Also:" line shows (`outlet_names`), one row per outlet;
- whether an event was listed on an earlier page (`storage.listing` too): a query for a newer
  matching report of each cluster, not a walk through its members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from news.model import Coverage, Story
from storage.base import (
    STORY_WITH_BODY,
    StorageBase,
    chunks,
    source_name,
    story_from_row,
)
from storage.tables import cluster_coverage, cluster_outlets, sources, stories


def _first_ids(cluster_id: int, limit: int, *, besides: int | None = None) -> Any:
    """The first reports of a cluster's first `limit` outlets (less the source `besides`)."""
    query = select(cluster_coverage.c.first_id).where(cluster_coverage.c.cluster_id == cluster_id)
    if besides is not None:
        query = query.where(cluster_coverage.c.source_id != besides)
    return query.order_by(cluster_coverage.c.first_published_at, cluster_coverage.c.first_id).limit(
        limit
    )


async def _stories_by_id(
    conn: AsyncConnection, ids: Any, columns: Sequence[Any], outlets: Any
) -> list[tuple[Story, int]]:
    """The stories whose ids `ids` (a subquery with one column) names, first published first,
    each with `outlets` (a count correlated to `stories`) beside it, in one statement."""
    found = ids.subquery()
    rows = await conn.execute(
        select(*columns, outlets.label("outlets"))
        .select_from(
            stories.join(found, found.c.first_id == stories.c.id).join(
                sources, sources.c.id == stories.c.source_id
            )
        )
        .order_by(stories.c.published_at, stories.c.id)
    )
    return [(story_from_row(row), row.outlets) for row in rows]


async def outlet_names(
    conn: AsyncConnection, cluster_ids: Iterable[int]
) -> dict[int, list[tuple[int, str]]]:
    """Each cluster's outlets, first reporter first: (source id, name) once each."""
    names: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for chunk in chunks(sorted(set(cluster_ids))):
        rows = await conn.execute(
            select(
                cluster_coverage.c.cluster_id,
                cluster_coverage.c.source_id,
                sources.c.title,
                sources.c.url,
            )
            .join(sources, sources.c.id == cluster_coverage.c.source_id)
            .where(cluster_coverage.c.cluster_id.in_(chunk))
            .order_by(
                cluster_coverage.c.cluster_id,
                cluster_coverage.c.first_published_at,
                cluster_coverage.c.first_id,
            )
        )
        for row in rows:
            names[row.cluster_id].append((row.source_id, source_name(row.title, row.url)))
    return dict(names)


class CoverageStore(StorageBase):
    """The part of `SqlStorage` that reads each event's outlets."""

    async def other_first_reports(self, story: Story, *, limit: int) -> Coverage:
        """The first reports (with their text) of the first `limit` outlets other than `story`'s
        own that report its event, and how many such outlets there are."""
        if story.cluster_id is None:
            return Coverage((), 0)
        # Every outlet but the story's own (one point read each, whatever the event's size).
        outlets = (
            select(cluster_outlets.c.outlets)
            .where(cluster_outlets.c.cluster_id == story.cluster_id)
            .scalar_subquery()
        )
        own = (
            select(func.count())
            .where(
                cluster_coverage.c.cluster_id == story.cluster_id,
                cluster_coverage.c.source_id == story.source_id,
            )
            .scalar_subquery()
        )
        others = outlets - own
        async with self.connect() as conn:
            first = await _stories_by_id(
                conn,
                _first_ids(story.cluster_id, limit, besides=story.source_id),
                STORY_WITH_BODY,
                others,
            )
        # No row: no other outlet.
        return Coverage(tuple(s for s, _ in first), first[0][1] if first else 0)
