"""Stories' meanings in storage, on SQLite and PostgreSQL (kept, replaced, read by id and for the
window, pruned with their story), and the poll that computes them: new stories it may push get
theirs before clustering and matching, a first poll's backlog and older stories later, and an
encoder that fails costs no story."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import timedelta

import numpy
import pytest
from numpy.typing import NDArray
from sqlalchemy import func, select

from news.feeds.fetch import Fetcher
from news.meaning import default_encoder, unpack
from news.polling.pipeline import Poller, PollSettings
from storage import SqlStorage
from storage.tables import story_meanings
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.stories import english_story

FEED = "https://outlet.example/feed.xml"


def blob(seed: int) -> bytes:
    return bytes((seed + n) % 256 for n in range(512))


async def three_stories(storage: SqlStorage, clock: Clock) -> list[int]:
    source = await storage.add_source(FEED, now=clock())
    stored = await storage.store_stories(
        [
            english_story(
                source.id,
                title,
                link=f"https://outlet.example/{n}",
                published_at=clock() - timedelta(hours=n),
            )
            for n, title in enumerate(["Harbour reopens", "Ferry strike ends", "Bridge closes"])
        ],
        now=clock(),
    )
    return [story.id for story in sorted(stored, key=lambda story: story.published_at)][::-1]


async def test_meanings_are_kept_replaced_and_read_back(storage: SqlStorage, clock: Clock) -> None:
    newest, middle, oldest = await three_stories(storage, clock)
    assert await storage.meanings([newest, middle]) == {}
    await storage.store_meanings([(newest, blob(1)), (oldest, blob(2))])
    assert await storage.meanings([newest, middle, oldest, 999]) == {
        newest: blob(1),
        oldest: blob(2),
    }
    await storage.store_meanings([(newest, blob(3)), (middle, blob(4))])
    assert await storage.meanings([newest, middle]) == {newest: blob(3), middle: blob(4)}
    assert await storage.meanings([]) == {}
    await storage.store_meanings([])


async def test_recent_meanings_are_the_window_s_newest_first(
    storage: SqlStorage, clock: Clock
) -> None:
    newest, middle, oldest = await three_stories(storage, clock)
    await storage.store_meanings([(newest, blob(1)), (middle, blob(2)), (oldest, blob(3))])
    assert await storage.recent_meanings(clock() - timedelta(hours=5), limit=10) == [
        (newest, "en", blob(1)),
        (middle, "en", blob(2)),
        (oldest, "en", blob(3)),
    ]
    assert await storage.recent_meanings(clock() - timedelta(minutes=90), limit=10) == [
        (newest, "en", blob(1)),
        (middle, "en", blob(2)),
    ]
    assert await storage.recent_meanings(clock() - timedelta(hours=5), limit=1) == [
        (newest, "en", blob(1))
    ]


async def test_the_window_s_newest_ids_come_without_their_meanings(
    storage: SqlStorage, clock: Clock
) -> None:
    # The middle story has no meaning yet: it is not among them.
    newest, _, oldest = await three_stories(storage, clock)
    await storage.store_meanings([(newest, blob(1)), (oldest, blob(3))])
    assert await storage.recent_meaning_ids(clock() - timedelta(hours=5), limit=10) == [
        (newest, "en"),
        (oldest, "en"),
    ]
    assert await storage.recent_meaning_ids(clock() - timedelta(hours=5), limit=1) == [
        (newest, "en")
    ]


async def test_stories_without_meanings_are_found_newest_first(
    storage: SqlStorage, clock: Clock
) -> None:
    newest, middle, oldest = await three_stories(storage, clock)
    await storage.store_meanings([(middle, blob(1))])
    waiting = await storage.meaningless_since(clock() - timedelta(hours=5), limit=10)
    assert [story_id for story_id, _, _ in waiting] == [newest, oldest]
    assert waiting[0][1:] == ("Harbour reopens", "")
    assert [s[0] for s in await storage.meaningless_since(clock(), limit=10)] == [newest]


async def test_a_pruned_story_s_meaning_goes_with_it_and_a_late_one_is_skipped(
    storage: SqlStorage, clock: Clock
) -> None:
    stories = await three_stories(storage, clock)
    await storage.store_meanings([(story_id, blob(story_id)) for story_id in stories])
    clock.advance(days=100)

    report = await storage.prune(clock() - timedelta(days=90), pause=0)

    assert report.stories == 3
    async with storage.engine.connect() as conn:
        count = select(func.count()).select_from(story_meanings)
        assert (await conn.execute(count)).scalar() == 0
    # A meaning computed while its story was pruned: skipped, not an error.
    await storage.store_meanings([(stories[0], blob(1))])
    assert await storage.meanings(stories) == {}


async def test_a_changed_headline_drops_the_old_meaning(storage: SqlStorage, clock: Clock) -> None:
    source = await storage.add_source(FEED, now=clock())
    draft = english_story(
        source.id, "Harbour reopens", link="https://o.example/1", published_at=clock(), entry_id="1"
    )
    [story] = await storage.store_stories([draft], now=clock())
    await storage.store_meanings([(story.id, blob(1))])
    changed = english_story(
        source.id,
        "Harbour stays shut",
        link="https://o.example/1",
        published_at=clock(),
        entry_id="1",
    )
    await storage.store_stories([changed], now=clock())
    assert await storage.meanings([story.id]) == {}


# The poll ------------------------------------------------------------------------------------


class Recording:
    """The real encoder, recording what it was asked; or failing, when told to."""

    dimensions = 512

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> NDArray[numpy.float32]:
        if self.fail:
            raise RuntimeError("model broken")
        self.texts += texts
        return default_encoder().encode(texts)


def item(n: int, clock: Clock, title: str) -> FeedItem:
    return FeedItem(
        title=title,
        link=f"https://outlet.example/{n}",
        summary="Officials said more would follow. Details later.",
        published=clock() - timedelta(minutes=n),
    )


async def poll(storage: SqlStorage, feeds: FeedServer, clock: Clock, encoder: Recording) -> Poller:
    async with Fetcher() as fetcher:
        poller = Poller(
            storage,
            fetcher,
            PollSettings(interval=timedelta(minutes=1)),
            rng=random.Random(1),
            encoder=encoder,
        )
        clock.advance(seconds=1)
        outcomes = await poller.poll_sources(await storage.list_sources(), clock())
        assert all(outcome.status != "error" for outcome in outcomes), outcomes
    return poller


@pytest.fixture
async def outlet(storage: SqlStorage, feeds: FeedServer, clock: Clock) -> str:
    feeds.set_feed("/feed.xml", rss_feed([item(90, clock, "Weekly science quiz")]))
    await storage.add_source(feeds.url("/feed.xml"), now=clock())
    await storage.upsert_chat(1, kind="private", title=None, now=clock())
    await storage.subscribe(1, "ferry", now=clock())
    return "/feed.xml"


async def test_new_stories_get_meanings_before_matching_and_the_backlog_later(
    storage: SqlStorage, feeds: FeedServer, clock: Clock, outlet: str
) -> None:
    encoder = Recording()
    first = await poll(storage, feeds, clock, encoder)
    assert encoder.texts == [], "a first poll's backlog is not embedded on the poll's path"
    feeds.set_feed(
        outlet,
        rss_feed([item(1, clock, "Ferry strike ends"), item(90, clock, "Weekly science quiz")]),
    )
    await poll(storage, feeds, clock, encoder)
    # The new story, then the followed topic (once: for stories in other languages).
    assert encoder.texts == [
        "Ferry strike ends. Officials said more would follow. Details later.",
        "ferry",
    ]
    [push] = await storage.claim_deliveries(limit=10, now=clock())
    assert push.story.title == "Ferry strike ends", "matching goes on as before"
    kept = await storage.meanings([push.story.id])
    assert set(kept) == {push.story.id}
    [expected] = default_encoder().encode(encoder.texts[:1])
    assert float(unpack([kept[push.story.id]])[0] @ expected) > 0.999

    # The first poll's story gets its meaning off the poll's path, by the backlog step.
    assert await first.cluster_backlog(clock()) == 0
    waiting = await storage.meaningless_since(clock() - timedelta(days=2), limit=10)
    assert waiting == []
    assert encoder.texts[-1].startswith("Weekly science quiz")


async def test_meanings_are_handed_to_clustering_and_matching(
    storage: SqlStorage, feeds: FeedServer, clock: Clock, outlet: str, monkeypatch
) -> None:
    handed: list[dict[int, NDArray[numpy.float32]] | None] = []
    from news.polling import pipeline

    real = pipeline.match_subscriptions

    def spy(*args, meanings=None, **kwargs):
        handed.append(meanings)
        return real(*args, meanings=meanings, **kwargs)

    monkeypatch.setattr(pipeline, "match_subscriptions", spy)
    encoder = Recording()
    await poll(storage, feeds, clock, encoder)
    feeds.set_feed(outlet, rss_feed([item(1, clock, "Ferry strike ends")]))
    await poll(storage, feeds, clock, encoder)
    [meanings] = handed
    assert meanings is not None and len(meanings) == 1
    [vector] = meanings.values()
    assert vector.shape == (512,)


async def test_a_failing_encoder_costs_no_story_and_no_push(
    storage: SqlStorage, feeds: FeedServer, clock: Clock, outlet: str, caplog
) -> None:
    encoder = Recording(fail=True)
    first = await poll(storage, feeds, clock, encoder)
    feeds.set_feed(outlet, rss_feed([item(1, clock, "Ferry strike ends")]))
    with caplog.at_level(logging.WARNING):
        await poll(storage, feeds, clock, encoder)
        assert await first.cluster_backlog(clock()) == 0
    [push] = await storage.claim_deliveries(limit=10, now=clock())
    assert push.story.title == "Ferry strike ends"
    assert "meanings of 1 stories not computed: RuntimeError('model broken')" in caplog.text
    assert len(await storage.meaningless_since(clock() - timedelta(days=2), limit=10)) == 2

    encoder.fail = False  # mended: the backlog catches up
    assert await first.meaning_backlog(clock()) == 2
    assert await storage.meaningless_since(clock() - timedelta(days=2), limit=10) == []


async def test_stories_are_read_by_id_newest_first(storage: SqlStorage, clock: Clock) -> None:
    newest, _, oldest = await three_stories(storage, clock)
    found = await storage.stories_by_id([oldest, newest, 999_999])
    assert [story.id for story in found] == [newest, oldest]
    assert found[0].title == "Harbour reopens" and found[0].source_name
    assert found[0].terms, "terms are read: exclusions are checked on them"
