"""Keeping the archive, on SQLite and PostgreSQL: syncing a sources file never deletes a story,
and retention prunes stories, finished deliveries and long-inactive chats in small batches.

Time is a hand-moved clock; every check is what a reader or an operator would notice: stories
still found by /latest (or gone), a source's story count, a chat's topics, the outbox's states.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from news.model import ClusterAssignment, SentRow, Story, StoryDraft, TopicMatch
from news.reading import latest_events
from news.topics import parse_topic
from storage import SqlStorage, open_storage
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.harness import running_bot, seeded_bot
from tests.storage_helpers import delivery_states
from tests.stories import english_story

WINDOW = timedelta(days=90)
A, B, C = (f"https://{name}.example/feed" for name in "abc")


def drafts(source_id: int, titles: list[str], published: datetime) -> list[StoryDraft]:
    return [
        english_story(
            source_id,
            title,
            entry_id=f"{source_id}-{title}",
            link=f"https://s{source_id}.example/{abs(hash(title))}",
            published_at=published - timedelta(seconds=number),
        )
        for number, title in enumerate(titles)
    ]


async def counts(storage: SqlStorage) -> dict[str, tuple[bool, str | None, int]]:
    return {
        s.url: (s.enabled, s.disabled_reason, s.stories_count) for s in await storage.list_sources()
    }


async def indexed(storage: SqlStorage, term: str) -> int:
    """Rows of the full-text index holding `term` (FTS5 table; PostgreSQL tsvector column)."""
    if storage.dialect == "sqlite":
        query = text("SELECT count(*) FROM stories_fts WHERE stories_fts MATCH :m")
        params = {"m": f'terms : "{term}"'}
    else:
        query = text("SELECT count(*) FROM stories WHERE search @@ to_tsquery('simple', :m)")
        params = {"m": term}
    async with storage.engine.connect() as conn:
        return int((await conn.execute(query, params)).scalar_one())


# Syncing the sources file ------------------------------------------------------------------------


async def test_a_source_that_leaves_the_file_is_disabled_and_keeps_its_stories(
    storage: SqlStorage, clock: Clock
) -> None:
    await storage.sync_sources([A, B], now=clock(), file="/etc/newsbot/first.txt")
    [a, _] = await storage.list_sources()
    await storage.store_stories(
        drafts(a.id, ["Zanzibar ferry", "Zanzibar port"], clock()), now=clock()
    )

    plan = await storage.sync_sources([B, C], now=clock(), file="/etc/newsbot/second.txt")

    assert (plan.added, plan.unlisted, plan.kept_stories) == ((C,), (A,), 2)
    assert await counts(storage) == {
        A: (False, "unlisted", 2),
        B: (True, None, 0),
        C: (True, None, 0),
    }
    assert len(await storage.latest(parse_topic("zanzibar"), limit=5)) == 2
    due = await storage.claim_due_sources(clock(), lease_until=clock() + timedelta(minutes=1))
    assert A not in {source.url for source in due}, "a disabled source is not polled"
    assert await storage.sources_file() == "/etc/newsbot/second.txt"

    back = await storage.sync_sources([A, B, C], now=clock(), file="/etc/newsbot/second.txt")

    assert back.restored == (A,)
    assert (await counts(storage))[A] == (True, None, 2), "back with its history"


async def test_a_file_never_touches_sources_users_added_or_admins_removed(
    storage: SqlStorage, clock: Clock
) -> None:
    await storage.add_source(A, now=clock())
    await storage.sync_sources([B], now=clock())
    removed = await storage.remove_source(B)
    assert removed is not None and removed.disabled_reason == "removed"

    plan = await storage.sync_sources([B, C], now=clock())

    assert not plan.restored and not plan.unlisted
    assert await counts(storage) == {
        A: (True, None, 0),
        B: (False, "removed", 0),
        C: (True, None, 0),
    }
    assert await storage.remove_source("https://nowhere.example/feed") is None
    again = await storage.add_source(B, now=clock())
    assert again.enabled and again.disabled_reason is None


# Retention ---------------------------------------------------------------------------------------


async def test_retention_prunes_old_stories_their_index_rows_and_counts(
    storage: SqlStorage, clock: Clock
) -> None:
    source = await storage.add_source(A, now=clock())
    start = clock()
    await storage.store_stories(
        drafts(source.id, [f"Zanzibar archive {n}" for n in range(25)], start), now=start
    )
    clock.advance(days=100)
    await storage.store_stories(
        drafts(source.id, ["Zanzibar today", "Zanzibar tonight"], clock()), now=clock()
    )
    assert await indexed(storage, "zanzibar") == 27

    report = await storage.prune(clock() - WINDOW, batch=10, pause=0)

    assert (report.stories, report.batches) == (25, 3)
    found = await storage.latest(parse_topic("zanzibar"), limit=50)
    assert [story.title for story in found] == ["Zanzibar today", "Zanzibar tonight"]
    assert await indexed(storage, "zanzibar") == 2
    assert (await counts(storage))[A] == (True, None, 2)
    assert not await storage.prune(clock() - WINDOW, pause=0), "nothing left to prune"


async def test_a_story_a_feed_still_carries_is_kept_a_window_from_when_it_was_read(
    storage: SqlStorage, clock: Clock
) -> None:
    source = await storage.add_source(A, now=clock())
    year_old = clock() - timedelta(days=365)
    await storage.store_stories(drafts(source.id, ["Zanzibar almanac"], year_old), now=clock())

    assert not await storage.prune(clock() - WINDOW, pause=0)
    clock.advance(days=91)
    assert (await storage.prune(clock() - WINDOW, pause=0)).stories == 1


async def test_an_event_is_pruned_whole_so_its_lead_never_changes(
    storage: SqlStorage, clock: Clock
) -> None:
    first = await storage.add_source(A, now=clock())
    second = await storage.add_source(B, now=clock())
    [lead] = await storage.store_stories(
        drafts(first.id, ["Zanzibar summit opens"], clock()), now=clock()
    )
    clock.advance(days=60)
    [late] = await storage.store_stories(
        drafts(second.id, ["Zanzibar summit closes"], clock()), now=clock()
    )
    await storage.assign_clusters(
        [ClusterAssignment(lead.id, lead.id), ClusterAssignment(late.id, lead.id)], now=clock()
    )
    clock.advance(days=40)  # the lead is 100 days old, the late report 40

    assert not await storage.prune(clock() - WINDOW, pause=0)
    [event], _ = await latest_events(storage, parse_topic("zanzibar"), 5)
    assert (event.lead.title, event.more_sources) == ("Zanzibar summit opens", 1)

    clock.advance(days=60)
    assert (await storage.prune(clock() - WINDOW, pause=0)).stories == 2
    assert await latest_events(storage, parse_topic("zanzibar"), 5) == ([], False)


async def _story(storage: SqlStorage, source_id: int, title: str, clock: Clock) -> Story:
    [story] = await storage.store_stories(drafts(source_id, [title], clock()), now=clock())
    return story


async def test_retention_prunes_finished_deliveries_and_long_inactive_chats(
    storage: SqlStorage, clock: Clock
) -> None:
    source = await storage.add_source(A, now=clock())
    for chat in (1, 2, 3, 4):
        await storage.upsert_chat(chat, kind="private", title=None, now=clock())
        await storage.subscribe(chat, "zanzibar", now=clock())
    sent, failed, owed = [
        await _story(storage, source.id, f"Zanzibar {n}", clock) for n in ("one", "two", "three")
    ]
    await storage.enqueue_deliveries(
        [
            TopicMatch(chat, story.id, ("zanzibar",))
            for chat, story in ((1, sent), (1, failed), (4, owed))
        ],
        now=clock(),
    )
    [to_send, to_fail] = await storage.claim_deliveries(limit=2, now=clock(), chat_id=1)
    await storage.mark_sent_many([SentRow(to_send.id, 10, ())], now=clock())
    await storage.mark_failed([to_fail.id], error="400 chat not found", now=clock())
    await storage.set_paused(4, True)  # its row stays pending, until its story ages out
    await storage.deactivate_chat(2, reason="blocked", now=clock())
    clock.advance(days=80)
    await storage.deactivate_chat(3, reason="blocked", now=clock())
    fresh = await _story(storage, source.id, "Zanzibar four", clock)
    await storage.enqueue_deliveries([TopicMatch(1, fresh.id, ("zanzibar",))], now=clock())
    [claimed] = await storage.claim_deliveries(limit=1, now=clock())
    await storage.mark_sent_many([SentRow(claimed.id, 11, ())], now=clock())
    clock.advance(days=20)

    report = await storage.prune(clock() - WINDOW, pause=0)

    assert (report.deliveries, report.chats, report.stories) == (2, 1, 3)
    assert await delivery_states(storage) == {"sent": 1}
    assert await storage.chat_settings(2) is None and await storage.subscriptions(2) == []
    assert [s.topic for s in await storage.subscriptions(3)] == ["zanzibar"], "inactive 20 days"
    assert await storage.chat_settings(1) is not None, "active chats stay, however old"
    await storage.upsert_chat(3, kind="private", title=None, now=clock())
    clock.advance(days=100)
    assert (await storage.prune(clock() - WINDOW, pause=0)).chats == 0, "it came back"


# The running bot ---------------------------------------------------------------------------------


async def test_the_bot_prunes_hourly_and_0_days_keeps_everything(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path, clock: Clock
) -> None:
    async with seeded_bot(telegram, feeds, tmp_path, clock=clock) as bot:
        storage = await open_storage(bot.settings.database_url)
        [source] = await storage.list_sources()
        old = clock() - timedelta(days=100)
        await storage.store_stories(drafts(source.id, ["Zanzibar long ago"], old), now=old)
        assert bot.app.job_queue is not None
        [job] = bot.app.job_queue.get_jobs_by_name("retention")
        assert job.trigger.interval == timedelta(hours=1)  # type: ignore[attr-defined]

        await job.run(bot.app)

        assert await storage.latest(parse_topic("zanzibar"), limit=5) == []
        assert len(await storage.latest(parse_topic("ukraine"), limit=20)) == 7, "today's stay"
        await storage.close()

    keep = {"NEWSBOT_RETENTION_DAYS": "0"}
    (tmp_path / "keep").mkdir()
    async with running_bot(telegram, feeds, tmp_path / "keep", clock=clock, extra_env=keep) as bot:
        assert bot.app.job_queue is not None
        assert not bot.app.job_queue.get_jobs_by_name("retention")


async def test_upgrading_counts_the_archive_and_lets_inactive_chats_wait_a_window(
    tmp_path: Path,
) -> None:
    from storage.database import create_engine, migrate, upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    long_ago = "2024-01-01 12:00:00.000000"
    async with engine.begin() as conn:
        await conn.run_sync(upgrade, "0007")
        await conn.execute(
            text(
                "INSERT INTO sources (id, url, origin, enabled, error_count, created_at) "
                f"VALUES (1, '{A}', 'file', 0, 0, '{long_ago}')"
            )
        )
        for n in (1, 2):
            await conn.execute(
                text(
                    "INSERT INTO stories (source_id, entry_id, title, summary, link, "
                    "published_at, first_seen_at, language, terms) VALUES (1, :e, 'Zanzibar', "
                    "'', :link, :at, :at, 'en', 'zanzibar')"
                ),
                {"e": f"e{n}", "link": f"https://a.example/{n}", "at": long_ago},
            )
        await conn.execute(
            text(
                "INSERT INTO chats (id, kind, active, paused, created_at) "
                f"VALUES (7, 'private', 0, 0, '{long_ago}')"
            )
        )
    await migrate(engine)
    storage = SqlStorage(engine)
    try:
        assert await counts(storage) == {A: (False, "gone", 2)}
        report = await storage.prune(datetime.now(UTC) - WINDOW, pause=0)
        assert (report.stories, report.chats) == (2, 0), "the chat's window starts now"
        assert (await counts(storage))[A] == (False, "gone", 0)
    finally:
        await storage.close()
