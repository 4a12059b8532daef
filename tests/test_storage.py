"""Storage behaviour readers depend on, run identically on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from news.errors import TopicError
from news.feeds.parse import parse_feed
from news.model import PollRecord, SentRow, Story, StoryDraft, TopicMatch
from news.topics import parse_topic
from storage import SqlStorage
from tests.conftest import empty_storage
from tests.storage_helpers import delivery_states

NOW = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)


def draft(
    source_id: int,
    entry_id: str,
    title: str,
    *,
    minutes_ago: int = 0,
    link: str | None = None,
    summary: str = "",
) -> StoryDraft:
    from news.topics import document_terms

    return StoryDraft(
        source_id=source_id,
        entry_id=entry_id,
        title=title,
        summary=summary,
        link=link or f"https://news.example.org/{entry_id}",
        published_at=NOW - timedelta(minutes=minutes_ago),
        language="en",
        terms=document_terms(f"{title} {summary}", "en"),
    )


async def store_seed_feed(storage: SqlStorage, seed_feed: bytes) -> list[Story]:
    """The seed feed's entries stored as a poll of its source stores them; the new stories."""
    source = await storage.add_source("https://news.example.org/world.xml", now=NOW)
    feed = parse_feed(seed_feed, url=source.url, now=NOW)
    drafts = [
        StoryDraft(
            source.id, e.entry_id, e.title, e.summary, e.link, e.published_at, e.language, e.terms
        )
        for e in feed.entries
    ]
    stored = await storage.store_stories(drafts, now=NOW)
    await storage.record_outcomes([PollRecord(source.id, NOW, NOW, title=feed.title)])
    return stored


async def test_seed_feed_latest_ukraine_lists_ukraine_stories_newest_first(
    storage: SqlStorage, seed_feed: bytes
) -> None:
    stored = await store_seed_feed(storage, seed_feed)
    assert len(stored) == 10

    found = await storage.latest(parse_topic("ukraine"), limit=20)

    titles = [story.title for story in found]
    assert len(found) >= 5
    assert all("Ukrain" in s.title or "Ukrain" in s.summary for s in found)
    assert not any("Interest Rates" in t or "Alpine" in t or "Language Models" in t for t in titles)
    assert [s.published_at for s in found] == sorted((s.published_at for s in found), reverse=True)
    assert found[0].title.startswith("Macron On Sending French Troops")
    assert found[0].source_name == "Example World News"


async def test_latest_ids_are_the_ids_of_the_stories_latest_lists(
    storage: SqlStorage, seed_feed: bytes
) -> None:
    # What /latest's finding by meaning reads of the stories a topic's words find.
    await store_seed_feed(storage, seed_feed)
    for typed in (
        "ukraine",
        "ukraine -macron",
        "ukraine source:example",
        "ukraine -source:example",
    ):
        topic = parse_topic(typed)
        for limit in (2, 20):
            listed = [story.id for story in await storage.latest(topic, limit=limit)]
            assert await storage.latest_ids(topic, limit=limit) == listed
    assert await storage.latest_ids(parse_topic("ukraine"), limit=20)


async def test_same_entry_twice_is_one_story_and_a_new_headline_updates_it(
    storage: SqlStorage,
) -> None:
    source = await storage.add_source("https://a.example/feed", now=NOW)
    first = await storage.store_stories([draft(source.id, "e1", "Talks begin")], now=NOW)
    again = await storage.store_stories([draft(source.id, "e1", "Talks begin in Riyadh")], now=NOW)

    assert len(first) == 1
    assert again == []
    [story] = await storage.latest(parse_topic("riyadh"), limit=5)
    assert story.title == "Talks begin in Riyadh"


async def test_one_link_carried_by_two_sources_is_one_story(storage: SqlStorage) -> None:
    a = await storage.add_source("https://a.example/feed", now=NOW)
    b = await storage.add_source("https://b.example/feed", now=NOW)
    link = "https://wire.example/story-1"
    await storage.store_stories([draft(a.id, "a-1", "Ceasefire agreed", link=link)], now=NOW)
    second = await storage.store_stories(
        [draft(b.id, "b-9", "Ceasefire agreed", link=link)], now=NOW
    )

    assert second == []
    assert len(await storage.latest(parse_topic("ceasefire"), limit=5)) == 1


async def test_topic_needs_every_word_and_ignores_case_accents_and_endings(
    storage: SqlStorage,
) -> None:
    source = await storage.add_source("https://a.example/feed", now=NOW)
    await storage.store_stories(
        [
            draft(source.id, "1", "Peace TALKS resume in Genève", minutes_ago=3),
            draft(source.id, "2", "Peace concert in Vienna", minutes_ago=2),
            draft(source.id, "3", "Ukraine's allies meet", minutes_ago=1),
        ],
        now=NOW,
    )

    talks = await storage.latest(parse_topic("peace talk"), limit=5)
    geneva = await storage.latest(parse_topic("GENEVE"), limit=5)
    ukraine = await storage.latest(parse_topic("ukraine"), limit=5)

    assert [s.title for s in talks] == ["Peace TALKS resume in Genève"]
    assert [s.title for s in geneva] == ["Peace TALKS resume in Genève"]
    assert [s.title for s in ukraine] == ["Ukraine's allies meet"]


async def test_hostile_topics_are_plain_words_to_the_index(storage: SqlStorage) -> None:
    source = await storage.add_source("https://a.example/feed", now=NOW)
    await storage.store_stories([draft(source.id, "1", "Markets NEAR record")], now=NOW)

    for raw in ["near(", '"market', "market*", "') OR 1=1 --", "drop table stories; near"]:
        try:
            topic = parse_topic(raw)
        except TopicError:  # the unbalanced quote, the OR without a left side
            continue
        result = await storage.latest(topic, limit=5)
        assert all("NEAR" in s.title for s in result)
    assert len(await storage.latest(None, limit=5)) == 1


async def test_subscriptions_are_per_chat_and_written_once(storage: SqlStorage) -> None:
    await storage.upsert_chat(1, kind="private", title="Alice", now=NOW)
    await storage.upsert_chat(-5, kind="group", title="Desk", now=NOW)

    assert await storage.subscribe(1, "ukraine", now=NOW) is True
    assert await storage.subscribe(1, "ukraine", now=NOW) is False
    assert await storage.subscribe(-5, "markets", now=NOW) is True

    assert [s.topic for s in await storage.subscriptions(1)] == ["ukraine"]
    assert {(s.chat_id, s.topic) for s in await storage.active_subscriptions()} == {
        (1, "ukraine"),
        (-5, "markets"),
    }
    await storage.deactivate_chat(-5, reason="bot was kicked", now=NOW)
    assert [s.chat_id for s in await storage.active_subscriptions()] == [1]
    assert await storage.unsubscribe(1, "ukraine") is True
    assert await storage.unsubscribe(1, "ukraine") is False


async def test_outbox_gives_each_chat_a_story_once(storage: SqlStorage) -> None:
    source = await storage.add_source("https://a.example/feed", now=NOW)
    [story] = await storage.store_stories([draft(source.id, "1", "Ukraine talks")], now=NOW)
    await storage.upsert_chat(1, kind="private", title=None, now=NOW)

    assert await storage.enqueue_deliveries([TopicMatch(1, story.id, ("ukraine",))], now=NOW) == 1
    assert await storage.enqueue_deliveries([TopicMatch(1, story.id, ("talks",))], now=NOW) == 0
    [claimed] = await storage.claim_deliveries(limit=10, now=NOW)
    assert claimed.story.title == "Ukraine talks"
    assert claimed.topics == ("ukraine",)
    assert await storage.claim_deliveries(limit=10, now=NOW) == []
    await storage.mark_sent_many([SentRow(claimed.id, 7, ())], now=NOW)
    assert await delivery_states(storage) == {"sent": 1}


async def test_lists_keep_the_text_format_databases_already_hold(storage: SqlStorage) -> None:
    """Terms space-separated (the full-text index reads them), topics and outlet names one a
    line; a card naming no outlet keeps "", which a digest's NULL is told from."""
    source = await storage.add_source("https://a.example/feed", now=NOW)
    stored = await storage.store_stories(
        [draft(source.id, "1", "Ukraine talks"), draft(source.id, "2", "Ukraine grain deal")],
        now=NOW,
    )
    await storage.upsert_chat(1, kind="private", title=None, now=NOW)
    matches = [TopicMatch(1, story.id, ("ukraine", "talks OR grain")) for story in stored]
    await storage.enqueue_deliveries(matches, now=NOW)
    card, digest_row = await storage.claim_deliveries(limit=10, now=NOW)
    await storage.mark_sent_many(
        [SentRow(card.id, 7, ("BBC", "DW")), SentRow(digest_row.id, 8, None)], now=NOW
    )
    async with storage.engine.connect() as conn:
        terms = (await conn.execute(text("SELECT terms FROM stories ORDER BY id"))).scalars()
        assert list(terms) == [" ".join(story.terms) for story in stored]
        rows = await conn.execute(text("SELECT topics, shown_sources FROM deliveries ORDER BY id"))
        assert [tuple(row) for row in rows] == [
            ("ukraine\ntalks OR grain", "BBC\nDW"),
            ("ukraine\ntalks OR grain", None),
        ]

    await storage.mark_edited(card.id, shown=(), now=NOW)
    async with storage.engine.connect() as conn:
        shown = await conn.execute(
            text(f"SELECT shown_sources FROM deliveries WHERE id = {card.id}")
        )
        assert shown.scalar() == ""


async def test_sources_file_sync_keeps_user_added_sources(storage: SqlStorage) -> None:
    await storage.sync_sources(["https://a.example/feed", "https://b.example/feed"], now=NOW)
    await storage.add_source("https://mine.example/feed", now=NOW)
    await storage.sync_sources(["https://b.example/feed", "https://c.example/feed"], now=NOW)

    assert [(s.url, s.enabled) for s in await storage.list_sources()] == [
        ("https://a.example/feed", False),
        ("https://b.example/feed", True),
        ("https://mine.example/feed", True),
        ("https://c.example/feed", True),
    ]


@pytest.mark.postgres
async def test_postgres_plans_every_topic_search_for_its_own_terms(
    postgres_database: str,
) -> None:
    """Prepared statements would switch to one generic plan after five runs; a plan that cannot
    tell a rare term from a common one walks the whole date index for a rare one (seconds at
    10 million stories, bench/bench_latest.py). Every search is planned for its terms."""
    store = await empty_storage(postgres_database)
    try:
        source = await store.add_source("https://news.example.org/world.xml", now=NOW)
        await store.store_stories(
            [draft(source.id, f"e{n}", f"Ukraine news {n}", minutes_ago=n) for n in range(20)]
            + [draft(source.id, "old", "Zanzibar spice harvest", minutes_ago=10_000)],
            now=NOW,
        )
        for _ in range(10):
            assert len(await store.latest(parse_topic("ukraine"), limit=5)) == 5
        found = await store.latest(parse_topic("zanzibar"), limit=5)
        assert [story.title for story in found] == ["Zanzibar spice harvest"]
        async with store.engine.connect() as conn:
            plans = (
                await conn.execute(
                    text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                        "WHERE statement LIKE '%to_tsquery%' AND statement NOT LIKE '%pg_prepared%'"
                    )
                )
            ).all()
        assert plans, "the searches ran as prepared statements on this connection"
        assert all(generic == 0 and custom > 0 for generic, custom in plans), plans
    finally:
        await store.close()
