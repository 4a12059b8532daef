"""Stories' articles: the text of the page a teaser links to, its key points, and the claims of
the processes that read them.

One row per story (`storage.tables.articles`), created when a pushed teaser wants its article
(`want_articles`) or when a reader opens a card (`claim_article`). Reading is claimed like a
source's poll: a claim sets the state to "reading" with a lease in `retry_at`, so a process
that dies mid-read leaves a row that is due again when the lease ends; on PostgreSQL claims
skip the rows another transaction is claiming (SQLite has one writer at a time). The row goes
with its story (ON DELETE CASCADE): retention prunes it without knowing of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from news.model import ArticleJob, StoryArticle
from storage.base import StorageBase, chunks
from storage.tables import articles, sources, stories

#: The states whose rows are read again when their `retry_at` comes (a lapsed claim included).
_DUE_STATES = ("wanted", "reading")
#: The latest links of a story's feed a job carries: where the feed's links point.
FEED_LINKS = 20
_JOB_COLUMNS = (
    articles.c.story_id,
    articles.c.attempts,
    stories.c.source_id,
    stories.c.link,
    stories.c.title,
    sources.c.url.label("site"),
)


class ArticleStore(StorageBase):
    """The articles part of `SqlStorage`."""

    async def want_articles(self, story_ids: Sequence[int], *, now: datetime) -> int:
        """Mark the articles of `story_ids` to be read now; a story that has a row keeps it.
        How many were new."""
        if not story_ids:
            return 0
        added = 0
        async with self.begin() as conn:
            for chunk in chunks(sorted(set(story_ids))):
                # A story that has a row already is skipped by the insert itself.
                added += await self._insert_article_rows(
                    conn,
                    [
                        {
                            "story_id": story_id,
                            "state": "wanted",
                            "attempts": 0,
                            "wanted_at": now,
                            "retry_at": now,
                        }
                        for story_id in chunk
                    ],
                )
        return added

    async def claim_articles(
        self, now: datetime, *, lease_until: datetime, limit: int
    ) -> list[ArticleJob]:
        """Claim up to `limit` articles due to be read (until `lease_until`), oldest due first."""
        due = and_(articles.c.state.in_(_DUE_STATES), articles.c.retry_at <= now)
        probe = select(articles.c.story_id).where(due).limit(1)
        async with self.connect() as conn:
            if (await conn.execute(probe)).first() is None:
                return []  # the usual answer, without a write transaction
        chosen = select(articles.c.story_id).where(due).order_by(articles.c.retry_at).limit(limit)
        async with self.begin() as conn:
            ids = await self._claim_article_rows(conn, chosen, lease_until)
            return await self._article_jobs(conn, ids)

    async def claim_article(
        self, story_id: int, *, now: datetime, lease_until: datetime
    ) -> ArticleJob | None:
        """Claim the article of one story (a card being opened): its row is made if it has
        none; None when it is read, unavailable, claimed by another, or not due yet."""
        async with self.begin() as conn:
            if (
                await conn.execute(select(stories.c.id).where(stories.c.id == story_id))
            ).first() is None:
                return None
            made = await self._insert_article_rows(
                conn,
                [
                    {
                        "story_id": story_id,
                        "state": "reading",
                        "attempts": 0,
                        "wanted_at": now,
                        "retry_at": lease_until,
                    }
                ],
            )
            if not made:
                chosen = select(articles.c.story_id).where(
                    articles.c.story_id == story_id,
                    articles.c.state.in_(_DUE_STATES),
                    articles.c.retry_at <= now,
                )
                if not await self._claim_article_rows(conn, chosen, lease_until):
                    return None
            jobs = await self._article_jobs(conn, [story_id])
        return jobs[0] if jobs else None

    async def record_article(self, article: StoryArticle) -> None:
        """Keep what reading an article came to (its text and key points, or why not and when
        to try again)."""
        async with self.begin() as conn:
            await conn.execute(
                update(articles)
                .where(articles.c.story_id == article.story_id)
                .values(
                    state=article.state,
                    text=article.text or None,
                    key_points=tuple(point.replace("\n", " ") for point in article.key_points),
                    kind=article.kind,
                    attempts=article.attempts,
                    read_at=article.read_at,
                    retry_at=article.retry_at,
                )
            )

    async def article(self, story_id: int) -> StoryArticle | None:
        """The stored article of a story; None when it has no row."""
        async with self.connect() as conn:
            row = (
                await conn.execute(select(articles).where(articles.c.story_id == story_id))
            ).first()
        if row is None:
            return None
        return StoryArticle(
            story_id=row.story_id,
            state=row.state,
            text=row.text or "",
            key_points=row.key_points or (),
            kind=row.kind,
            attempts=row.attempts,
            read_at=row.read_at,
            retry_at=row.retry_at,
        )

    async def _insert_article_rows(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
        """Insert the rows whose story has none yet; another process's row wins a race."""
        statement: Any
        if self.dialect == "postgresql":
            # Imported here: the PostgreSQL dialect is loaded only where it is used.
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(articles).on_conflict_do_nothing(index_elements=["story_id"])
        else:
            statement = insert(articles).prefix_with("OR IGNORE")
        # Counted by RETURNING: drivers do not tell an executemany's row count.
        inserted = await conn.execute(statement.returning(articles.c.story_id), rows)
        return len(inserted.all())

    async def _claim_article_rows(
        self, conn: AsyncConnection, chosen: Select[tuple[int]], lease_until: datetime
    ) -> list[int]:
        if self.dialect == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        claimed = await conn.execute(
            update(articles)
            .where(articles.c.story_id.in_(chosen.scalar_subquery()))
            .values(state="reading", retry_at=lease_until)
            .returning(articles.c.story_id)
        )
        return sorted(claimed.scalars())

    async def _article_jobs(self, conn: AsyncConnection, ids: Sequence[int]) -> list[ArticleJob]:
        if not ids:
            return []
        rows = list(
            await conn.execute(
                select(*_JOB_COLUMNS)
                .join(stories, stories.c.id == articles.c.story_id)
                .join(sources, sources.c.id == stories.c.source_id)
                .where(articles.c.story_id.in_(ids))
                .order_by(articles.c.story_id)
            )
        )
        links: dict[int, tuple[str, ...]] = {}
        for source_id in {row.source_id for row in rows}:
            latest = await conn.execute(
                select(stories.c.link)
                .where(stories.c.source_id == source_id, stories.c.link != "")
                .order_by(stories.c.id.desc())
                .limit(FEED_LINKS)
            )
            links[source_id] = tuple(latest.scalars())
        return [
            ArticleJob(
                row.story_id,
                row.link,
                row.title,
                row.site,
                row.attempts,
                feed_links=links[row.source_id],
            )
            for row in rows
        ]
