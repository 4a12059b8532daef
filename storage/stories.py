"""Stories in storage: keeping what feeds publish once, and reading it back, newest first.

A story is known by its feed's entry id within its source, by its link across sources (one URL
in two feeds is one story) and, without a link, by its text within its source. Reads by topic
go through the full-text index (`storage.search`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from news.model import Cursor, Story, StoryDraft
from news.topics import Topic
from storage.base import (
    STORY_COLUMNS,
    STORY_WITH_BODY,
    chunks,
    older_than,
    select_stories,
    source_name,
    story_from_row,
)
from storage.recent import RecentSearch, asked_from
from storage.search import newest_first, recent_only, topic_clause, topic_sources
from storage.tables import sources, stories, story_meanings


class StoryStore(RecentSearch):
    """The stories part of `SqlStorage`."""

    async def store_stories(self, drafts: Sequence[StoryDraft], *, now: datetime) -> list[Story]:
        """Insert the drafts that are new; return them as stories, oldest first.

        A draft is not new when its source already has its entry id, or when any source already
        carries its link (one URL in two feeds is one story), or, without a link, when its
        source already has a linkless story of the same headline and summary. A known entry
        whose headline changed is updated in place.
        """
        if not drafts:
            return []
        async with self.begin() as conn:
            source_ids = {draft.source_id for draft in drafts}
            known_entries: dict[tuple[int, str], tuple[int, str]] = {}
            for chunk in chunks([draft.entry_id for draft in drafts]):
                rows = await conn.execute(
                    select(
                        stories.c.id, stories.c.source_id, stories.c.entry_id, stories.c.title
                    ).where(stories.c.source_id.in_(source_ids), stories.c.entry_id.in_(chunk))
                )
                for row in rows:
                    known_entries[(row.source_id, row.entry_id)] = (row.id, row.title)
            known_links: set[str] = set()
            for chunk in chunks([draft.link for draft in drafts if draft.link]):
                rows = await conn.execute(select(stories.c.link).where(stories.c.link.in_(chunk)))
                known_links.update(row.link for row in rows)

            # An entry without a link is known by its text within its source too: some feeds
            # give such entries a new guid at every fetch.
            unlinked = {draft.title for draft in drafts if not draft.link}
            known_texts: set[tuple[int, str, str]] = set()
            for chunk in chunks(sorted(unlinked)):
                rows = await conn.execute(
                    select(stories.c.source_id, stories.c.title, stories.c.summary).where(
                        stories.c.source_id.in_(source_ids),
                        stories.c.link == "",
                        stories.c.title.in_(chunk),
                    )
                )
                known_texts.update((row.source_id, row.title, row.summary) for row in rows)

            fresh: list[StoryDraft] = []
            seen_keys: set[tuple[int, str]] = set()
            for draft in drafts:
                key = (draft.source_id, draft.entry_id)
                if key in known_entries:
                    story_id, title = known_entries[key]
                    if title != draft.title:
                        await conn.execute(
                            update(stories)
                            .where(stories.c.id == story_id)
                            .values(
                                title=draft.title,
                                summary=draft.summary,
                                terms=draft.terms,
                                body=draft.body or None,
                                image_url=draft.image_url,
                            )
                        )
                        # Its meaning was the old headline's: computed again by the backlog.
                        await conn.execute(
                            delete(story_meanings).where(story_meanings.c.story_id == story_id)
                        )
                    continue
                text_key = (draft.source_id, draft.title, draft.summary)
                if (
                    key in seen_keys
                    or (draft.link and draft.link in known_links)
                    or (not draft.link and text_key in known_texts)
                ):
                    continue
                seen_keys.add(key)
                if draft.link:
                    known_links.add(draft.link)
                else:
                    known_texts.add(text_key)
                fresh.append(draft)
            fresh.sort(key=lambda draft: draft.published_at)
            if not fresh:
                return []
            # RETURNING in parameter order would make SQLAlchemy insert one row per statement
            # (SQLite has no sentinel column here); batched rows come back keyed instead.
            inserted = await conn.execute(
                insert(stories).returning(stories.c.id, stories.c.source_id, stories.c.entry_id),
                [
                    {
                        "source_id": draft.source_id,
                        "entry_id": draft.entry_id,
                        "title": draft.title,
                        "summary": draft.summary,
                        "link": draft.link,
                        "published_at": draft.published_at,
                        "first_seen_at": now,
                        "language": draft.language,
                        "terms": draft.terms,
                        "body": draft.body or None,
                        "image_url": draft.image_url,
                    }
                    for draft in fresh
                ],
            )
            ids = {(row.source_id, row.entry_id): row.id for row in inserted}
            names = {
                row.id: source_name(row.title, row.url)
                for row in await conn.execute(
                    select(sources.c.id, sources.c.title, sources.c.url).where(
                        sources.c.id.in_(source_ids)
                    )
                )
            }
        return [
            Story(
                id=ids[(draft.source_id, draft.entry_id)],
                source_id=draft.source_id,
                source_name=names.get(draft.source_id, ""),
                title=draft.title,
                summary=draft.summary,
                link=draft.link,
                published_at=draft.published_at,
                first_seen_at=now,
                language=draft.language,
                terms=draft.terms,
                # Kept for what the poll decides next (is it a teaser, whose page to read?).
                body=draft.body,
                image_url=draft.image_url,
            )
            for draft in fresh
        ]

    async def latest(
        self,
        topic: Topic | None,
        *,
        limit: int,
        before: Cursor | None = None,
    ) -> list[Story]:
        """The newest stories matching `topic` (all when None), newest first.

        `before` is where the previous page ended: paging never uses offsets, so it stays fast
        and stable while new stories arrive.
        """
        rows = await self._latest_rows(STORY_COLUMNS, topic, limit=limit, before=before)
        return [story_from_row(row) for row in rows]

    async def latest_ids(self, topic: Topic, *, limit: int) -> list[int]:
        """The ids of the newest stories matching `topic` (`latest`'s), newest first: all that
        finding by meaning needs of the stories a topic's words find, without making them."""
        rows = await self._latest_rows((stories.c.id,), topic, limit=limit, before=None)
        return [row.id for row in rows]

    async def _latest_rows(
        self, columns: Sequence[Any], topic: Topic | None, *, limit: int, before: Cursor | None
    ) -> Sequence[Any]:
        query = select_stories(*columns)
        if before is not None:
            query = query.where(older_than(before))
        query = query.order_by(*newest_first(self.dialect, topic)).limit(limit)
        async with self.connect() as conn:
            if topic is None:
                return list(await conn.execute(query))
            kept, dropped = await topic_sources(conn, topic)
            query = query.where(
                topic_clause(
                    self.dialect,
                    topic,
                    limit=limit,
                    before=before,
                    sources=kept,
                    excluded_sources=dropped,
                )
            )
            # PostgreSQL's recent stories first (`storage.recent`), the rest when too few.
            recent_from = asked_from(await self.recent_bound(conn), topic, before)
            if recent_from is not None:
                rows = list(await conn.execute(recent_only(query, recent_from)))
                if len(rows) == limit:
                    return rows
            return list(await conn.execute(query))

    async def story(self, story_id: int) -> Story | None:
        """One story with its whole text (for its card); None when there is none."""
        async with self.connect() as conn:
            row = (
                await conn.execute(select_stories(*STORY_WITH_BODY).where(stories.c.id == story_id))
            ).first()
        return None if row is None else story_from_row(row)

    async def store_meanings(self, pairs: Sequence[tuple[int, bytes]]) -> None:
        """Keep each story's packed meaning (`news.meaning.pack`), replacing one it had.

        A story that is gone by now (pruned while its meaning was computed) is skipped.
        """
        if not pairs:
            return
        vectors = dict(pairs)
        async with self.begin() as conn:
            present: set[int] = set()
            for chunk in chunks(sorted(vectors)):
                rows = await conn.execute(select(stories.c.id).where(stories.c.id.in_(chunk)))
                present.update(row.id for row in rows)
            if not present:
                return
            # Imported here: a dialect's module is loaded only where it is used.
            statement: Any
            if self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                statement = pg_insert(story_meanings)
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                statement = sqlite_insert(story_meanings)
            statement = statement.on_conflict_do_update(
                index_elements=[story_meanings.c.story_id],
                set_={"vector": statement.excluded.vector},
            )
            await conn.execute(
                statement,
                [
                    {"story_id": story_id, "vector": vectors[story_id]}
                    for story_id in sorted(present)
                ],
            )

    async def meanings(self, story_ids: Sequence[int]) -> dict[int, bytes]:
        """The packed meanings of those of `story_ids` that have one."""
        found: dict[int, bytes] = {}
        if not story_ids:
            return found
        async with self.connect() as conn:
            for chunk in chunks(sorted(set(story_ids))):
                rows = await conn.execute(
                    select(story_meanings.c.story_id, story_meanings.c.vector).where(
                        story_meanings.c.story_id.in_(chunk)
                    )
                )
                found.update((row.story_id, bytes(row.vector)) for row in rows)
        return found

    async def recent_meanings(self, since: datetime, *, limit: int) -> list[tuple[int, str, bytes]]:
        """Stories published since `since` that have a meaning: (id, language, packed meaning),
        newest first, at most `limit`."""
        query = _with_meanings_since(since, limit, story_meanings.c.vector)
        async with self.connect() as conn:
            return [(row.id, row.language, bytes(row.vector)) for row in await conn.execute(query)]

    async def recent_meaning_ids(self, since: datetime, *, limit: int) -> list[tuple[int, str]]:
        """`recent_meanings`' (id, language) without the meanings: what a window of meanings
        read lately checks itself against, reading only the meanings it lacks (`meanings`)."""
        query = _with_meanings_since(since, limit)
        async with self.connect() as conn:
            return [(row.id, row.language) for row in await conn.execute(query)]

    async def stories_by_id(self, story_ids: Sequence[int]) -> list[Story]:
        """The stories of these ids (those that exist, without their text), newest first."""
        found: list[Story] = []
        async with self.connect() as conn:
            for start in range(0, len(story_ids), 500):
                chunk = list(story_ids[start : start + 500])
                rows = await conn.execute(
                    select_stories(*STORY_COLUMNS).where(stories.c.id.in_(chunk))
                )
                found += [story_from_row(row) for row in rows]
        found.sort(key=lambda story: (story.published_at, story.id), reverse=True)
        return found

    async def meaningless_since(self, since: datetime, *, limit: int) -> list[tuple[int, str, str]]:
        """Stories published since `since` that have no meaning yet, newest first, as (id,
        title, summary): the first polls' backlogs and the stories stored before meanings were
        kept."""
        query = (
            select(stories.c.id, stories.c.title, stories.c.summary)
            .outerjoin(story_meanings, story_meanings.c.story_id == stories.c.id)
            .where(stories.c.published_at >= since, story_meanings.c.story_id.is_(None))
            .order_by(stories.c.published_at.desc(), stories.c.id.desc())
            .limit(limit)
        )
        async with self.connect() as conn:
            return [(row.id, row.title, row.summary) for row in await conn.execute(query)]


def _with_meanings_since(since: datetime, limit: int, *columns: Any) -> Any:
    """The newest `limit` stories published since `since` that have a meaning: id, language
    and `columns`."""
    return (
        select(stories.c.id, stories.c.language, *columns)
        .join(story_meanings, story_meanings.c.story_id == stories.c.id)
        .where(stories.c.published_at >= since)
        .order_by(stories.c.published_at.desc(), stories.c.id.desc())
        .limit(limit)
    )
