"""/latest's reads: each page of the search in one statement that brings what the listing needs.

A list of events needs, besides the newest matching stories, each of their events' first few
outlets and the number of its outlets (`cluster_coverage`, `cluster_outlets`: see
`storage.coverage`), and when paging, which of those events had a matching report at or after
the page's cursor (listed on a page above). One statement returns all three: the search is a
common table expression `found` that the database runs once (it is referenced more than once,
so both SQLite and PostgreSQL materialize it), and

- its rows, each with a flag telling whether its cluster has a matching report at or after
  the cursor (a second, non-correlated search limited to `found`'s clusters and the time from
  the cursor on; only when paging);
- UNION ALL the first reports of each of `found`'s clusters' first `named` outlets, each one
  point read of the `(cluster_id, first_published_at, first_id)` index (a scalar subquery per
  rank: `LIMIT 1 OFFSET k`), with the cluster's number of outlets beside it.

A request reads through one connection (`SqlStorage.listing`): the `source:` filters are
matched against the sources once, then each page is one statement, however big the events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, literal_column, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from news.model import Coverage, Cursor, Found, Story
from news.topics import Topic
from storage.base import (
    STORY_COLUMNS,
    select_stories,
    story_from_row,
)
from storage.recent import RecentSearch, asked_from
from storage.search import (
    matching_since,
    newest_first,
    recent_only,
    topic_clause,
    topic_sources,
)
from storage.tables import cluster_coverage, cluster_outlets, sources, stories

_NAMES = tuple(column.name for column in STORY_COLUMNS)


def _at(name: str) -> tuple[Any, Any]:
    """(published_at, id) as parameters `{name}_at` and `{name}_id`, to compare rows with."""
    return bindparam(f"{name}_at", type_=stories.c.published_at.type), bindparam(
        f"{name}_id", type_=stories.c.id.type
    )


def _statement(
    dialect: str,
    topic: Topic | None,
    search: Any,
    since: Any,
    *,
    before: bool,
    paging: bool,
    named: int,
    recent: bool,
) -> Any:
    """The statement of a page (see the module's docstring), every value a named parameter:
    `search` and `since` are the topic's clauses (`topic_clause`, `matching_since`, or None),
    `before`/`paging` whether the page starts at a cursor / the request continues a page,
    `recent` whether only the recent stories are asked (`recent_only`)."""
    query = select_stories(*STORY_COLUMNS)
    if before:
        query = query.where(tuple_(stories.c.published_at, stories.c.id) < tuple_(*_at("before")))
    query = query.order_by(*newest_first(dialect, topic)).limit(bindparam("page_limit"))
    if search is not None:
        query = query.where(search)
    if recent:
        query = recent_only(query, bindparam("recent_from", type_=stories.c.published_at.type))
    found = query.cte("found")
    clusters = (
        select(found.c.cluster_id)
        .where(found.c.cluster_id.is_not(None))
        .distinct()
        .subquery("shown")
    )
    above: Any = literal_column("0")
    if paging:
        listed = select(stories.c.cluster_id).where(
            stories.c.cluster_id.in_(select(clusters.c.cluster_id)),
            tuple_(stories.c.published_at, stories.c.id) >= tuple_(*_at("above")),
        )
        if since is not None:
            listed = listed.where(since)
        above = case((found.c.cluster_id.in_(listed), 1), else_=0)
    # The first report of each cluster's k-th outlet, for k below `named`: point reads.
    firsts = union_all(
        *(
            select(
                select(cluster_coverage.c.first_id)
                .where(cluster_coverage.c.cluster_id == clusters.c.cluster_id)
                .order_by(cluster_coverage.c.first_published_at, cluster_coverage.c.first_id)
                .limit(1)
                .offset(rank)
                .scalar_subquery()
                .label("first_id")
            ).select_from(clusters)
            for rank in range(named)
        )
    ).subquery("firsts")
    outlets = (
        select(cluster_outlets.c.outlets)
        .where(cluster_outlets.c.cluster_id == stories.c.cluster_id)
        .scalar_subquery()
    )
    return union_all(
        select(
            literal_column("0").label("kind"),
            *(found.c[name] for name in _NAMES),
            literal_column("NULL").label("outlets"),
            above.label("above"),
        ),
        select(
            literal_column("1").label("kind"),
            *STORY_COLUMNS,
            outlets.label("outlets"),
            literal_column("0").label("above"),
        ).select_from(
            stories.join(firsts, firsts.c.first_id == stories.c.id).join(
                sources, sources.c.id == stories.c.source_id
            )
        ),
    )


#: Statements built, by shape: what the clauses look like without their values. Topics come in
#: few shapes (a word, words, a phrase, exclusions, `source:`), so this stays small; building
#: one costs about a millisecond, as much as running it.
_BUILT: dict[tuple[Any, ...], Any] = {}
_BUILT_MAX = 256


class Search:
    """One request's pages of the search, read through one connection."""

    def __init__(
        self,
        conn: AsyncConnection,
        dialect: str,
        topic: Topic | None,
        *,
        named: int,
        paging: Cursor | None,
        kept: Sequence[int],
        dropped: Sequence[int],
        recent_from: datetime | None = None,
    ) -> None:
        self._conn = conn
        self._recent_from = recent_from
        self._dialect = dialect
        self._topic = topic
        self._named = named
        self._paging = paging
        self._kept = kept
        self._dropped = dropped

    def _since(self) -> Any:
        if self._paging is None or self._topic is None:
            return None
        return matching_since(
            self._dialect,
            self._topic,
            self._paging.published_at,
            sources=self._kept,
            excluded_sources=self._dropped,
        )

    async def page(self, *, limit: int, before: Cursor | None) -> Found:
        """The newest `limit` matches older than `before`, their clusters' outlets and, when
        paging, which of those clusters have a matching report at or after the page's cursor.

        With PostgreSQL's recent index (`storage.recent`), the recent stories are asked first,
        and the whole archive only when they hold fewer than `limit` matches."""
        recent_from = asked_from(self._recent_from, self._topic, before)
        if recent_from is not None:
            found = await self._read(limit=limit, before=before, recent_from=recent_from)
            if len(found.stories) == limit:
                return found
        return await self._read(limit=limit, before=before, recent_from=None)

    async def _read(
        self, *, limit: int, before: Cursor | None, recent_from: datetime | None
    ) -> Found:
        topic = self._topic
        search = (
            None
            if topic is None
            else topic_clause(
                self._dialect,
                topic,
                limit=limit,
                before=before,
                sources=self._kept,
                excluded_sources=self._dropped,
            )
        )
        since = self._since()
        values: dict[str, Any] = {"page_limit": limit}
        recent = recent_from is not None
        if recent:
            values["recent_from"] = recent_from
        shape: list[Any] = [self._dialect, self._named, topic is None, before is None]
        shape += [self._paging is None, recent]
        cacheable = True
        for clause in (search, since):
            key = None if clause is None else clause._generate_cache_key()
            cacheable &= clause is None or key is not None
            shape.append(None if key is None else key.key)
            if key is not None:
                values.update((bind.key, bind.effective_value) for bind in key.bindparams)
        if before is not None:
            values.update(before_at=before.published_at, before_id=before.story_id)
        if self._paging is not None:
            values.update(above_at=self._paging.published_at, above_id=self._paging.story_id)
        statement = _BUILT.get(tuple(shape))
        if statement is None:
            statement = _statement(
                self._dialect,
                topic,
                search,
                since,
                before=before is not None,
                paging=self._paging is not None,
                named=self._named,
                recent=recent,
            )
            if cacheable:
                if len(_BUILT) >= _BUILT_MAX:
                    _BUILT.clear()
                _BUILT[tuple(shape)] = statement
        matches: list[Story] = []
        listed_above: set[int] = set()
        first: dict[int, list[Story]] = defaultdict(list)
        counts: dict[int, int] = {}
        for row in await self._conn.execute(statement, values):
            story = story_from_row(row)
            if row.kind == 0:
                matches.append(story)
                if row.above and story.cluster_id is not None:
                    listed_above.add(story.cluster_id)
            elif story.cluster_id is not None:
                first[story.cluster_id].append(story)
                counts[story.cluster_id] = row.outlets
        matches.sort(key=_order, reverse=True)
        coverage = {
            cluster: Coverage(tuple(sorted(first[cluster], key=_order)), outlets)
            for cluster, outlets in counts.items()
        }
        return Found(matches, coverage, listed_above)


def _order(story: Story) -> tuple[datetime, int]:
    return story.published_at, story.id


class ListingStore(RecentSearch):
    """The part of `SqlStorage` that reads /latest's pages."""

    @asynccontextmanager
    async def listing(
        self, topic: Topic | None, *, named: int, paging: Cursor | None = None
    ) -> AsyncIterator[Search]:
        """Pages of the search for `topic` through one connection, each with the first reports
        of its clusters' first `named` outlets and (with `paging`, the cursor of the page the
        request continues) the clusters listed above it."""
        async with self.connect() as conn:
            if self.dialect == "postgresql":
                # Reads only, each page one statement: no transaction, so no BEGIN and ROLLBACK
                # round trips around it.
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            kept, dropped = await topic_sources(conn, topic) if topic is not None else ([], [])
            recent_from = await self.recent_bound(conn)
            yield Search(
                conn,
                self.dialect,
                topic,
                named=named,
                paging=paging,
                kept=kept,
                dropped=dropped,
                recent_from=recent_from,
            )
