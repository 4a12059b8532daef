"""PostgreSQL's recent index (`storage.recent`): /latest asks the recent weeks first and gives
the same answers as without it, across its bound, while it is renewed, and in a process that
still holds the bound an other process replaced; the running bot builds it hourly."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from news.model import StoryDraft
from news.reading import latest_events
from news.topics import document_terms, parse_topic
from storage import SqlStorage, create_engine, open_storage
from storage.recent import RECENT_DAYS, index_name
from tests.conftest import Clock, empty_storage
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.harness import seeded_bot
from tests.storage_helpers import all_pages

pytestmark = pytest.mark.postgres

NEWEST = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAYS = 120


def _headline(day: int) -> str:
    """Day 0 is the newest. Every story is about the market; one in nine also about the
    harbour (a rare word: a few in the recent weeks, more before); quartz only long ago."""
    words = ["Market report"]
    if day % 9 == 0:
        words.append("harbour strike")
    if day > 60 and day % 7 == 0:
        words.append("quartz mine")
    return " ".join(words) + f" day {day}"


def _drafts(source_id: int, days: range, *, shift: timedelta = timedelta(0)) -> list[StoryDraft]:
    return [
        StoryDraft(
            source_id=source_id,
            entry_id=f"{day}-{shift.days}",
            title=_headline(day),
            summary="",
            link=f"https://wire.example/{day}-{shift.days}",
            published_at=NEWEST + shift - timedelta(days=day),
            language="en",
            terms=document_terms(_headline(day), "en"),
        )
        for day in days
    ]


async def _empty(url: str) -> SqlStorage:
    """The session's database emptied, with no recent index an earlier test built."""
    storage = await empty_storage(url)
    for name in await _recent_indexes(storage):
        async with storage.begin() as conn:
            await conn.execute(text(f"DROP INDEX {name}"))
    return storage


@pytest.fixture
async def archive(postgres_database: str) -> AsyncIterator[SqlStorage]:
    storage = await _empty(postgres_database)
    source = await storage.add_source("https://wire.example/feed", now=NEWEST)
    await storage.store_stories(_drafts(source.id, range(DAYS)), now=NEWEST)
    yield storage
    await storage.close()


async def _recent_indexes(storage: SqlStorage) -> list[str]:
    async with storage.connect() as conn:
        rows = await conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_stories_search_rec%'")
        )
        return [row.indexname for row in rows]


async def _expected(storage: SqlStorage, raw: str) -> list[str]:
    topic = parse_topic(raw)
    everything = await storage.latest(None, limit=10_000)
    return [
        story.title
        for story in everything
        if topic.matches(story.terms, source=story.source_name, language=story.language)
    ]


async def _all_pages(storage: SqlStorage, raw: str, page: int) -> list[str]:
    return [story.title for story in await all_pages(storage, raw, page)]


async def _listed(storage: SqlStorage, raw: str) -> list[str]:
    """Every event /latest lists for `raw`, page after page of 5, as "More" reads them."""
    titles: list[str] = []
    before = None
    seen: frozenset[int] = frozenset()
    while True:
        events, more = await latest_events(storage, parse_topic(raw), 5, before=before, skip=seen)
        titles += [event.matched.title for event in events]
        if not events or not more:
            return titles
        last = events[-1].matched
        before = (last.published_at, last.id)
        seen |= {event.matched.event for event in events}


async def _same_answers(
    storage: SqlStorage,
    topics: tuple[str, ...] = (
        "harbour",
        "market",
        "quartz",
        "harbour OR quartz",
        "market -harbour",
    ),
) -> None:
    for raw in topics:
        expected = await _expected(storage, raw)
        assert expected, raw
        for page in (1, 2, 6, 50):
            assert await _all_pages(storage, raw, page) == expected, (raw, page)
        assert await _listed(storage, raw) == expected, raw


async def test_latest_asks_the_recent_weeks_first_with_the_same_answers(
    archive: SqlStorage,
) -> None:
    bound = await archive.refresh_recent_search()
    assert bound == (NEWEST - RECENT_DAYS).replace(hour=0, minute=0)
    assert await _recent_indexes(archive) == [index_name(bound)]
    # "harbour" has 3 stories in the recent weeks: a page of 6 needs the older ones too.
    recent_harbour = [t for t in await _expected(archive, "harbour") if int(t.split()[-1]) < 22]
    assert 0 < len(recent_harbour) < 6
    sent: list[str] = []

    def keep(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(archive.engine.sync_engine, "before_cursor_execute", keep)
    try:
        await _same_answers(archive)
    finally:
        event.remove(archive.engine.sync_engine, "before_cursor_execute", keep)
    # The answers came through statements kept to the recent stories (not only the plain ones).
    assert any(re.search(r"stories\.published_at >= \$\d", statement) for statement in sent)


async def test_the_index_is_renewed_as_news_comes_and_the_old_one_dropped(
    archive: SqlStorage,
) -> None:
    first = await archive.refresh_recent_search()
    assert first is not None
    # Two weeks on, the bound (35 days behind) is not yet far enough behind to renew.
    source = (await archive.list_sources())[0]
    await archive.store_stories(
        _drafts(source.id, range(14), shift=timedelta(days=14)), now=NEWEST + timedelta(days=14)
    )
    assert await archive.refresh_recent_search() == first
    # A month on it is: a new index from 21 days before the newest story, the old one gone.
    await archive.store_stories(
        _drafts(source.id, range(16), shift=timedelta(days=30)), now=NEWEST + timedelta(days=30)
    )
    renewed = await archive.refresh_recent_search()
    assert renewed == (NEWEST + timedelta(days=30) - RECENT_DAYS).replace(hour=0, minute=0)
    assert await _recent_indexes(archive) == [index_name(renewed)]
    await _same_answers(archive)


async def test_an_index_gone_missing_is_built_again(archive: SqlStorage) -> None:
    bound = await archive.refresh_recent_search()
    assert bound is not None
    async with archive.begin() as conn:
        await conn.execute(text(f"DROP INDEX {index_name(bound)}"))
    await _same_answers(archive)  # meanwhile answered by the main index
    assert await archive.refresh_recent_search() == bound
    assert await _recent_indexes(archive) == [index_name(bound)]


async def test_a_process_holding_a_replaced_bound_still_answers_right(
    archive: SqlStorage, postgres_database: str
) -> None:
    await archive.refresh_recent_search()
    other = SqlStorage(create_engine(postgres_database))
    try:
        # The other process read the first bound before this one renewed the index.
        async with other.connect() as conn:
            stale = await other.recent_bound(conn)
        assert stale is not None
        source = (await archive.list_sources())[0]
        await archive.store_stories(
            _drafts(source.id, range(50), shift=timedelta(days=50)),
            now=NEWEST + timedelta(days=50),
        )
        assert await archive.refresh_recent_search() != stale
        async with other.connect() as conn:
            assert await other.recent_bound(conn) == stale  # still cached
        await _same_answers(other)
    finally:
        await other.close()


async def test_a_short_archive_gets_no_recent_index(postgres_database: str) -> None:
    storage = await _empty(postgres_database)
    try:
        source = await storage.add_source("https://wire.example/feed", now=NEWEST)
        await storage.store_stories(_drafts(source.id, range(60)), now=NEWEST)
        assert await storage.refresh_recent_search() is None
        assert await _recent_indexes(storage) == []
        await _same_answers(storage, ("harbour", "market", "market -harbour"))
    finally:
        await storage.close()


async def test_the_running_bot_builds_the_recent_index_hourly(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, clock: Clock, postgres_url: str
) -> None:
    async with seeded_bot(
        telegram, feeds, tmp_path, clock=clock, extra_env={"DATABASE_URL": postgres_url}
    ) as bot:
        assert bot.work.loops.period("recent-search") == timedelta(hours=1)
        storage = await open_storage(postgres_url)
        try:
            [source] = await storage.list_sources()
            # Three months of an outlet's archive behind today's seed stories.
            drafts = [
                replace(draft, published_at=clock() - timedelta(days=day + 1))
                for day, draft in enumerate(_drafts(source.id, range(DAYS)))
            ]
            await storage.store_stories(drafts, now=clock())

            await bot.work.loops.run_once("recent-search")

            assert len(await _recent_indexes(storage)) == 1
            assert await _all_pages(storage, "harbour", 2) == await _expected(storage, "harbour")
        finally:
            await storage.close()

    (tmp_path / "sqlite").mkdir()
    async with seeded_bot(telegram, feeds, tmp_path / "sqlite", clock=clock) as bot:
        assert "recent-search" not in bot.work.loops, "SQLite walks its index in time order"
