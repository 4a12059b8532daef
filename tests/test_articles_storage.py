"""Stories' articles in storage, on SQLite and PostgreSQL: wanted once, claimed by one reader at a
time under a lease, kept with their key points, and pruned with their story by retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from news.model import StoryArticle
from storage import SqlStorage
from storage.tables import articles
from tests.conftest import Clock
from tests.stories import english_story

FEED = "https://outlet.example/feed.xml"
LEASE = timedelta(minutes=2)


async def two_stories(storage: SqlStorage, clock: Clock) -> list[int]:
    source = await storage.add_source(FEED, now=clock())
    stored = await storage.store_stories(
        [
            english_story(
                source.id,
                title,
                link=f"https://outlet.example/{n}",
                published_at=clock() - timedelta(minutes=n),
            )
            for n, title in enumerate(["Harbour reopens", "Ferry strike ends"])
        ],
        now=clock(),
    )
    return sorted(story.id for story in stored)


async def test_a_wanted_article_is_claimed_once_read_and_kept(
    storage: SqlStorage, clock: Clock
) -> None:
    first, second = await two_stories(storage, clock)
    assert await storage.want_articles([first, second], now=clock()) == 2
    assert await storage.want_articles([first], now=clock()) == 0, "wanted once"

    jobs = await storage.claim_articles(clock(), lease_until=clock() + LEASE, limit=10)
    assert [(job.story_id, job.site) for job in jobs] == [(first, FEED), (second, FEED)]
    assert {job.url for job in jobs} == {"https://outlet.example/0", "https://outlet.example/1"}
    assert set(jobs[0].feed_links) == {job.url for job in jobs}, "where the feed's links point"
    assert not await storage.claim_articles(clock(), lease_until=clock() + LEASE, limit=10), (
        "a claimed article is not claimed again while its lease runs"
    )
    assert await storage.claim_article(first, now=clock(), lease_until=clock() + LEASE) is None

    read = StoryArticle(
        first,
        "read",
        text="The harbour reopened on Monday.\nShips queued outside.",
        key_points=("The harbour reopened on Monday.", "Ships queued\noutside."),
        attempts=1,
        read_at=clock(),
    )
    await storage.record_article(read)
    kept = await storage.article(first)
    assert kept is not None
    assert (kept.state, kept.text, kept.attempts, kept.read_at) == (
        "read",
        read.text,
        1,
        clock(),
    )
    assert kept.key_points == ("The harbour reopened on Monday.", "Ships queued outside.")

    # The other reader died: its claim lapses and the article is due again.
    clock.advance(minutes=3)
    again = await storage.claim_articles(clock(), lease_until=clock() + LEASE, limit=10)
    assert [job.story_id for job in again] == [second]


async def test_a_card_claims_a_story_without_a_row_and_waits_for_a_retry(
    storage: SqlStorage, clock: Clock
) -> None:
    first, _ = await two_stories(storage, clock)
    job = await storage.claim_article(first, now=clock(), lease_until=clock() + LEASE)
    assert job is not None and job.story_id == first and job.attempts == 0
    assert await storage.claim_article(first, now=clock(), lease_until=clock() + LEASE) is None
    assert await storage.claim_article(999_999, now=clock(), lease_until=clock()) is None

    await storage.record_article(
        StoryArticle(
            first,
            "wanted",
            kind="timeout",
            attempts=1,
            read_at=clock(),
            retry_at=clock() + timedelta(minutes=5),
        )
    )
    assert await storage.claim_article(first, now=clock(), lease_until=clock() + LEASE) is None
    clock.advance(minutes=5)
    retried = await storage.claim_article(first, now=clock(), lease_until=clock() + LEASE)
    assert retried is not None and retried.attempts == 1

    await storage.record_article(
        StoryArticle(first, "unavailable", kind="paywall", attempts=2, read_at=clock())
    )
    clock.advance(days=30)
    assert await storage.claim_article(first, now=clock(), lease_until=clock() + LEASE) is None
    kept = await storage.article(first)
    assert kept is not None and (kept.state, kept.kind, kept.text) == ("unavailable", "paywall", "")


async def test_retention_prunes_the_article_with_its_story(
    storage: SqlStorage, clock: Clock
) -> None:
    first, second = await two_stories(storage, clock)
    await storage.want_articles([first, second], now=clock())
    for story_id in (first, second):
        await storage.record_article(
            StoryArticle(story_id, "read", text="Text.", key_points=("Text.",), read_at=clock())
        )
    clock.advance(days=100)

    report = await storage.prune(clock() - timedelta(days=90), pause=0)

    assert report.stories == 2
    assert await storage.article(first) is None and await storage.article(second) is None
    async with storage.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(articles))).scalar() == 0
