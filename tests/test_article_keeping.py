"""When the bot reads a story's article, and how often it tries: the keeper's decisions on plain
values (`news.articles.keeping`). The bot's behaviour end to end is tests/test_articles_bot.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from news.articles import Article, ArticleReader, ArticleUnavailable, HostPace
from news.articles.keeping import (
    ARTICLE_TEXT_LIMIT,
    MAX_ATTEMPTS,
    PERMANENT,
    ArticleKeeper,
    after_reading,
    job_sites,
    wants_article,
)
from news.feeds.fetch import Fetcher
from news.model import ArticleJob, Story
from storage import SqlStorage
from tests.conftest import Clock
from tests.fakes.article_site import ArticleHost, Page, article_html
from tests.stories import english_story

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PARAGRAPHS = [
    "The harbour of Northport reopened to shipping on Tuesday after a week of storms that "
    "closed the port and left 40 cargo ships waiting at anchor off the coast.",
    "Harbour engineers worked through the weekend to clear two sunken barges from the main "
    "channel, the port authority said in a statement on its website.",
    "Insurers put the damage to the quays and cranes at about 25 million euros, most of it "
    "caused by a storm surge that flooded the container terminal on Thursday night.",
    "Port officials expect the backlog of cargo ships to clear by the end of next week if the "
    "weather holds and the pilots can work in both daily shifts.",
]
JOB = ArticleJob(7, "https://outlet.example/a", "Harbour reopens", "https://outlet.example/rss")


def story(summary: str, *, link: str = "https://outlet.example/a", body: str = "") -> Story:
    return Story(
        id=7,
        source_id=1,
        source_name="Outlet",
        title="Harbour reopens",
        summary=summary,
        link=link,
        published_at=NOW,
        first_seen_at=NOW,
        body=body,
    )


def test_a_read_article_is_kept_with_its_key_points_and_capped() -> None:
    words = "The harbour reopened on Monday after a week of storms. " * 600
    article = Article("https://outlet.example/a", "Harbour reopens", words, ("One.", "Two."))
    kept = after_reading(JOB, article, NOW)
    assert (kept.state, kept.attempts, kept.read_at, kept.key_points) == (
        "read",
        1,
        NOW,
        ("One.", "Two."),
    )
    assert len(kept.text) <= ARTICLE_TEXT_LIMIT + 1 and kept.text.endswith("…")
    cut = kept.text.removesuffix("…")
    assert words.startswith(cut) and words[len(cut)] == " ", "cut at a word"


@pytest.mark.parametrize("kind", sorted(PERMANENT))
def test_a_page_that_will_not_change_is_never_asked_again(kind: str) -> None:
    kept = after_reading(JOB, ArticleUnavailable("no", kind=kind), NOW)  # type: ignore[arg-type]
    assert (kept.state, kept.kind, kept.retry_at) == ("unavailable", kind, None)


def test_a_transient_failure_is_tried_again_later_a_few_times() -> None:
    failure = ArticleUnavailable("timed out", kind="timeout")
    first = after_reading(JOB, failure, NOW)
    assert (first.state, first.attempts, first.retry_at) == (
        "wanted",
        1,
        NOW + timedelta(minutes=2),
    )
    second = after_reading(ArticleJob(7, JOB.url, JOB.title, JOB.site, attempts=1), failure, NOW)
    assert second.retry_at == NOW + timedelta(minutes=8)
    last = after_reading(
        ArticleJob(7, JOB.url, JOB.title, JOB.site, attempts=MAX_ATTEMPTS - 1), failure, NOW
    )
    assert (last.state, last.retry_at) == ("unavailable", None)


def test_a_host_that_asks_us_to_wait_is_waited_for_or_given_up() -> None:
    busy = ArticleUnavailable("busy", kind="slow", retry_after=3600)
    assert after_reading(JOB, busy, NOW).retry_at == NOW + timedelta(hours=1)
    parked = ArticleUnavailable("busy", kind="slow", retry_after=7 * 3600)
    assert after_reading(JOB, parked, NOW).state == "unavailable"


def test_pages_are_read_on_the_feeds_site_or_where_most_of_its_links_point() -> None:
    # The BBC's feeds live on bbci.co.uk, its stories on bbc.co.uk.
    feed = "https://feeds.bbci.co.uk/news/world/rss.xml"
    links = tuple(f"https://www.bbc.co.uk/news/world-{n}" for n in range(9))
    job = ArticleJob(
        7, links[0], "Harbour reopens", feed, feed_links=(*links, "https://stray.com/one-link")
    )
    assert job_sites(job) == (feed, "bbc.co.uk")
    alone = ArticleJob(7, "https://stray.com/a", "T", feed, feed_links=("https://stray.com/a",))
    assert job_sites(alone) == (feed, "stray.com"), "a feed of one story: where it points"
    split = ArticleJob(
        7,
        "https://a.com/1",
        "T",
        feed,
        feed_links=("https://a.com/1",) * 2 + ("https://b.com/1",) * 3 + ("https://c.com/1",) * 3,
    )
    assert job_sites(split) == (feed,), "no domain holds half of the links"


def test_only_teasers_with_a_link_want_their_article() -> None:
    assert wants_article(story("Harbour reopens after storms."))
    assert wants_article(story("The harbour reopened. " * 30 + "Continue reading…"))
    assert not wants_article(story("The harbour reopened on Monday after storms. " * 12))
    assert not wants_article(story("short", body="The harbour reopened after storms. " * 20))
    assert not wants_article(story("Harbour reopens after storms.", link=""))


# A card opened on demand: the keeper over real storage, the real reader and a loopback site -----


@pytest.fixture
async def site() -> AsyncIterator[ArticleHost]:
    async with ArticleHost("127.0.0.2") as host:
        yield host


async def teaser_story(store: SqlStorage, site: ArticleHost, path: str, clock: Clock) -> Story:
    feed = await store.add_source("http://127.0.0.1:9/feed.xml", now=clock())
    [stored] = await store.store_stories(
        [
            english_story(
                feed.id,
                "Northport harbour reopens",
                link=site.url(path),
                published_at=clock(),
                summary="Ships can enter the harbour again.",
            )
        ],
        now=clock(),
    )
    return stored


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(public_only=False) as fetcher:  # NEWSBOT_ALLOW_PRIVATE_SOURCES=1
        yield fetcher


def keeper_over(
    store: SqlStorage, clock: Clock, fetcher: Fetcher, *, deadline: float = 15.0
) -> ArticleKeeper:
    # The page's own deadline made short: the slow page's read ends within the test.
    return ArticleKeeper(store, ArticleReader(fetcher, HostPace(), deadline=deadline), clock)


async def test_a_card_reads_a_page_never_read_and_keeps_it_for_every_chat(
    store: SqlStorage, site: ArticleHost, clock: Clock, fetcher: Fetcher
) -> None:
    site.set_page("/harbour", article_html("Northport harbour reopens", PARAGRAPHS))
    story = await teaser_story(store, site, "/harbour", clock)
    keeper = keeper_over(store, clock, fetcher)
    try:
        article = await keeper.for_card(story)
        assert article is not None and article.state == "read"
        assert 2 <= len(article.key_points) <= 4
        assert all(point in " ".join(PARAGRAPHS) for point in article.key_points)
        again = await keeper.for_card(story)
        assert again == await store.article(story.id) and again is not None
        assert again.key_points == article.key_points
        assert len(site.requests_for("/harbour")) == 1, "read once, kept for every card"
    finally:
        await keeper.aclose()


async def test_a_card_waits_a_bounded_time_and_the_read_goes_on(
    store: SqlStorage, site: ArticleHost, clock: Clock, fetcher: Fetcher
) -> None:
    site.set_page("/slow", Page(body=b"<html><body><p>Ships", trickle=0.5))
    story = await teaser_story(store, site, "/slow", clock)
    keeper = keeper_over(store, clock, fetcher, deadline=1.5)
    try:
        assert await keeper.for_card(story, wait=0.2) is None, "the card goes out without it"
        later = await keeper.for_card(story, wait=10.0)
        assert later is not None and (later.state, later.kind) == ("wanted", "timeout")
        assert later.retry_at == clock() + timedelta(minutes=2)
        assert await keeper.for_card(story, wait=10.0) == later, "not asked again before then"
        assert len(site.requests_for("/slow")) == 1
    finally:
        await keeper.aclose()


async def test_a_card_of_a_story_with_its_whole_text_reads_nothing(
    store: SqlStorage, site: ArticleHost, clock: Clock, fetcher: Fetcher
) -> None:
    story = await teaser_story(store, site, "/harbour", clock)
    whole = replace(story, summary=" ".join(PARAGRAPHS))
    keeper = keeper_over(store, clock, fetcher)
    try:
        assert await keeper.for_card(whole) is None
        assert site.requests == []
    finally:
        await keeper.aclose()
