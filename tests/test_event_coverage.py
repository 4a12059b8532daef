"""Each event's outlets kept as it changes, and listings that cost the same at any event size.

On SQLite and PostgreSQL: the outlets kept per cluster (`cluster_coverage`) always equal what
the stories say, through assignments, merges, splits, retention and a source's removal; and a
/latest list of five events of 1,000 reports each reads as few rows and statements as one of
five single reports, on every page, as does a story card of a 1,000-report event.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, delete, event, func, select, update

from handlers.i18n import english
from handlers.render import details_messages, latest_messages
from news.model import ClusterAssignment, Coverage, Found, Story
from news.reading import latest_events, story_card
from news.topics import parse_topic
from storage import SqlStorage
from storage.database import _MIGRATIONS
from storage.tables import cluster_coverage, cluster_outlets, sources, stories
from tests.stories import english_story, made_up

NOW = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)


async def kept(storage: SqlStorage) -> dict[tuple[int, int], tuple[int, int]]:
    """(cluster, source) → (reports, first report) as `cluster_coverage` holds them, checked
    against the outlets `cluster_outlets` counts."""
    async with storage.connect() as conn:
        rows = await conn.execute(select(cluster_coverage))
        found = {(r.cluster_id, r.source_id): (r.reports, r.first_id) for r in rows}
        rows = await conn.execute(select(cluster_outlets))
        counted = {row.cluster_id: row.outlets for row in rows}
    assert counted == Counter(cluster for cluster, _ in found)
    return found


async def told_by_stories(storage: SqlStorage) -> dict[tuple[int, int], tuple[int, int]]:
    """The same, counted from the stories themselves."""
    async with storage.connect() as conn:
        rows = await conn.execute(
            select(stories.c.cluster_id, stories.c.source_id, stories.c.id)
            .where(stories.c.cluster_id.is_not(None))
            .order_by(stories.c.published_at, stories.c.id)
        )
        reports: Counter[tuple[int, int]] = Counter()
        first: dict[tuple[int, int], int] = {}
        for row in rows:
            key = (row.cluster_id, row.source_id)
            reports[key] += 1
            first.setdefault(key, row.id)
    return {key: (reports[key], first[key]) for key in reports}


async def add_sources(storage: SqlStorage, count: int) -> list[int]:
    await storage.sync_sources([f"https://outlet{n}.example/feed" for n in range(count)], now=NOW)
    async with storage.connect() as conn:
        return list((await conn.execute(select(sources.c.id).order_by(sources.c.id))).scalars())


async def test_kept_outlets_follow_assignments_merges_splits_and_deletes(
    storage: SqlStorage,
) -> None:
    rng = random.Random(24)
    source_ids = await add_sources(storage, 6)
    drafts = [
        english_story(
            rng.choice(source_ids),
            f"{made_up(n, 'story')} report",
            link=f"https://example.org/{n}",
            # Some reports share a second, so the first report is decided by id.
            published_at=NOW - timedelta(minutes=rng.randrange(0, 40)),
        )
        for n in range(80)
    ]
    stored = await storage.store_stories(drafts, now=NOW - timedelta(hours=1))
    ids = [story.id for story in stored]
    for round_ in range(12):
        # Each round moves stories between a few clusters (a merge moves many at once, a split
        # a few, a story may go back to standing alone) …
        heads = rng.sample(ids, 4)
        moved = rng.sample(ids, rng.randrange(1, 30))
        await storage.assign_clusters(
            [ClusterAssignment(story, rng.choice([*heads, story])) for story in moved], now=NOW
        )
        # … and some rounds end with statements that move or delete many rows at once.
        async with storage.begin() as conn:
            if round_ % 3 == 1:
                await conn.execute(
                    update(stories)
                    .where(stories.c.id.in_(rng.sample(ids, 10)))
                    .values(cluster_id=rng.choice(heads))
                )
            if round_ % 4 == 3:
                gone = rng.sample(ids, 8)
                await conn.execute(delete(stories).where(stories.c.id.in_(gone)))
                ids = [story for story in ids if story not in gone]
        assert await kept(storage) == await told_by_stories(storage), f"round {round_}"
    report = await storage.prune(NOW - timedelta(minutes=20), pause=0)
    assert report.stories
    assert await kept(storage) == await told_by_stories(storage)


class Counting:
    """The storage as the domain reads it, counting the stories (rows) and the SQL statements
    each read brings back."""

    def __init__(self, storage: SqlStorage) -> None:
        self.storage = storage
        self.rows = 0
        self.statements = 0
        event.listen(storage.engine.sync_engine, "before_cursor_execute", self._statement)

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def reset(self) -> None:
        self.rows = self.statements = 0

    def listing(self, *args: Any, **kwargs: Any) -> Any:
        """The storage's listing, its pages' rows counted."""
        counting = self

        @asynccontextmanager
        async def counted() -> AsyncIterator[Any]:
            async with self.storage.listing(*args, **kwargs) as search:

                class Pages:
                    async def page(self, **page_kwargs: Any) -> Found:
                        found = await search.page(**page_kwargs)
                        counting.rows += _rows(found)
                        return found

                yield Pages()

        return counted()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.storage, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            result = await method(*args, **kwargs)
            self.rows += _rows(result)
            return result

        return counted


def _rows(result: Any) -> int:
    if isinstance(result, Found):
        return len(result.stories) + _rows(result.coverage) + len(result.listed_above)
    if isinstance(result, Story):
        return 1
    if isinstance(result, Coverage):
        return len(result.first) + 1
    if isinstance(result, dict):
        return sum(_rows(value) for value in result.values())
    if isinstance(result, list | set | tuple):
        return sum(_rows(item) if isinstance(item, Story | Coverage) else 1 for item in result)
    return 0


async def events_of(
    storage: SqlStorage, source_ids: list[int], *, reports: int, word: str
) -> list[list[Story]]:
    """Eight events on `word`, each reported once by each of `reports` outlets, their reports
    interleaved in time as on a big news day; clustered as the clusterer would."""
    drafts = [
        english_story(
            source_ids[outlet],
            f"{word} {made_up(number, 'event')} news",
            entry_id=f"{word}-{number}-{outlet}",
            link=f"https://outlet{outlet}.example/{word}/{number}",
            published_at=NOW - timedelta(seconds=5 * (outlet * 8 + number)),
        )
        for outlet in range(reports)
        for number in range(8)
    ]
    stored = await storage.store_stories(drafts, now=NOW)
    by_event: dict[str, list[Story]] = {}
    for story in stored:
        by_event.setdefault(story.title, []).append(story)
    clusters = [sorted(group, key=lambda s: (s.published_at, s.id)) for group in by_event.values()]
    await storage.assign_clusters(
        [ClusterAssignment(s.id, group[0].id) for group in clusters for s in group], now=NOW
    )
    return clusters


async def measured(counting: Counting, read: Awaitable[Any]) -> tuple[Any, int, int]:
    """What `read` returns, and the rows and statements it read (counted from its start)."""
    counting.reset()
    result = await read
    return result, counting.rows, counting.statements


async def test_listing_events_of_a_thousand_reports_reads_as_little_as_single_reports(
    storage: SqlStorage,
) -> None:
    source_ids = await add_sources(storage, 1000)
    big = await events_of(storage, source_ids, reports=1000, word="ukraine")
    await events_of(storage, source_ids, reports=1, word="berlin")
    counting = Counting(storage)
    texts = english()
    # A process's first /latest (then one every few minutes) also reads where PostgreSQL's
    # recent index starts (`storage.recent`); the counts below are any other request's.
    await latest_events(counting, parse_topic("berlin"), 1)

    for count in (5, 3):
        (large, _), large_rows, large_statements = await measured(
            counting, latest_events(counting, parse_topic("ukraine"), count)
        )
        (small, _), small_rows, small_statements = await measured(
            counting, latest_events(counting, parse_topic("berlin"), count)
        )
        assert len(large) == len(small) == count
        assert all(e.more_sources == 999 for e in large), "every outlet counted"
        assert all(e.more_sources == 0 for e in small)
        # One statement a read of the search brings its events' outlets with it.
        assert large_statements == small_statements == 1, (large_statements, small_statements)
        assert large_rows <= 2 * small_rows, (large_rows, small_rows)
    whole = "\n".join(latest_messages("Latest", large, NOW, texts=texts))
    assert "+999 sources" in whole
    # Each entry is led by its event's first report, whoever else reported it later.
    first = {group[0].id for group in big}
    assert all(e.lead.id in first and e.lead.id == e.lead.cluster_id for e in large)

    # The next page: events listed above are recognised without loading them.
    last = large[-1].matched
    (page, _), page_rows, page_statements = await measured(
        counting,
        latest_events(counting, parse_topic("ukraine"), 3, before=(last.published_at, last.id)),
    )
    assert {e.lead.cluster_id for e in page}.isdisjoint({e.lead.cluster_id for e in large})
    assert page_rows <= 40 and page_statements <= 2, (page_rows, page_statements)

    # A story card of a 1,000-report event reads the ten other outlets it shows.
    story = await storage.story(big[0][500].id)
    assert story is not None
    card, card_rows, _ = await measured(counting, story_card(counting, story, chat_id=1, now=NOW))
    assert len(card.other_reports) == 10 and card.other_outlets == 999
    assert card_rows <= 30, card_rows
    assert "and 989 more outlets" in "\n".join(
        details_messages(
            card.story,
            NOW,
            key_points=card.key_points,
            other_reports=card.other_reports,
            related=card.related,
            texts=texts,
            other_outlets=card.other_outlets,
        )
    )
    async with storage.connect() as conn:
        outlets = await conn.execute(
            select(func.count()).where(cluster_coverage.c.cluster_id == big[0][0].id)
        )
        assert outlets.scalar_one() == 1000


async def test_a_first_read_holding_a_full_list_of_events_is_the_only_read(
    storage: SqlStorage,
) -> None:
    """Five events of two reports each, the newest six stories covering all five: /latest 5
    answers from its first read (one statement) and offers "More" without checking whether an
    older match is of a sixth event; here none is, so the next page is empty (the bot then says
    "No older stories.")."""
    source_ids = await add_sources(storage, 2)
    events = await events_of(storage, source_ids, reports=2, word="harbour")
    counting = Counting(storage)
    five = events[:5]
    async with storage.connect() as conn:
        others = [story.id for group in events[5:] for story in group]
        await conn.execute(delete(stories).where(stories.c.id.in_(others)))
        await conn.commit()
    await latest_events(counting, parse_topic("berlin"), 1)  # the first request's extra read
    (listed, more), _, statements = await measured(
        counting, latest_events(counting, parse_topic("harbour"), 5)
    )
    assert {e.lead.cluster_id for e in listed} == {group[0].id for group in five}
    assert more and statements == 1, (more, statements)
    last = listed[-1].matched
    (page, more), _, _ = await measured(
        counting,
        latest_events(counting, parse_topic("harbour"), 5, before=(last.published_at, last.id)),
    )
    assert page == [] and not more


async def test_the_migration_fills_the_outlets_of_events_clustered_before_it(
    storage: SqlStorage,
) -> None:
    source_ids = await add_sources(storage, 3)
    await events_of(storage, source_ids, reports=3, word="ukraine")
    expected = await told_by_stories(storage)
    assert len(expected) == 8 * 3

    def to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            config.attributes["connection"] = connection
            if revision == "head":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)

        return run

    async with storage.engine.begin() as conn:
        await conn.run_sync(to("0015"))
        # Clustered while the outlets were not kept: the next assignments leave no trace.
        await conn.execute(update(stories).values(cluster_id=stories.c.id))
        await conn.execute(
            update(stories)
            .where(stories.c.title.like("%eventab%"))
            .values(cluster_id=select(func.min(stories.c.id)).scalar_subquery())
        )
        await conn.run_sync(to("head"))
    assert await kept(storage) == await told_by_stories(storage)
    assert (await told_by_stories(storage)) != expected, "the stories moved"
