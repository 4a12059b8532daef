"""Clusters end to end below Telegram: poll → cluster → store → outbox, on SQLite and PostgreSQL.

Real HTTP from the loopback feed server, a real database of each kind, a hand-moved clock. What a
reader would notice: one event is one /latest entry and one push per chat, a pushed card becomes
due for an "Also:" edit when another outlet reports its event (at most once a minute, never after
48 hours), and a restarted bot keeps its clusters.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from handlers.i18n import english
from handlers.render import latest_messages
from news.events.clustering import Clusterer
from news.feeds.fetch import Fetcher
from news.model import ClusterAssignment, Delivery, SentRow, StoryDraft
from news.polling.pipeline import Poller, PollSettings
from news.reading import latest_events
from news.topics import document_terms, parse_topic
from storage import SqlStorage
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.stories import PRISONER_SWAP, english_story

ALICE = 1001
OLD = datetime(2024, 3, 1, tzinfo=UTC)


def seed(outlet: str) -> FeedItem:
    return FeedItem(
        title=f"{outlet} weekly science quiz",
        link=f"https://{outlet.lower()}.example/quiz",
        summary="Test yourself on the week's discoveries.",
        published=OLD,
    )


def swap_report(outlet: str, clock: Clock, minutes_ago: int) -> FeedItem:
    title, summary = PRISONER_SWAP[outlet]
    return FeedItem(
        title=title,
        link=f"https://{outlet.lower()}.example/prisoner-swap",
        summary=summary,
        published=clock() - timedelta(minutes=minutes_ago),
    )


def heat_report(clock: Clock) -> FeedItem:
    return FeedItem(
        title="Ukraine's farmers count losses after record summer heat",
        link="https://bbc.example/heat",
        summary="Wheat yields in the south fell by a fifth as temperatures passed 40 degrees.",
        published=clock() - timedelta(minutes=2),
    )


class Newsroom:
    """Three outlets on the feed server, a poller with a clusterer, a chat following Ukraine."""

    def __init__(
        self, storage: SqlStorage, feeds: FeedServer, clock: Clock, fetcher: Fetcher
    ) -> None:
        self.storage, self.feeds, self.clock, self.fetcher = storage, feeds, clock, fetcher
        self.poller = self.new_poller()
        self.items: dict[str, list[FeedItem]] = {}
        for outlet in ("BBC", "DW", "Reuters"):
            self.publish(outlet)

    def publish(self, outlet: str, *items: FeedItem) -> None:
        self.items[outlet] = [*items, *self.items.get(outlet, [seed(outlet)])]
        self.feeds.set_feed(f"/{outlet}.xml", rss_feed(self.items[outlet], title=outlet))

    async def start(self) -> None:
        for outlet in self.items:
            await self.storage.add_source(self.feeds.url(f"/{outlet}.xml"), now=self.clock())
        await self.storage.upsert_chat(ALICE, kind="private", title=None, now=self.clock())
        await self.storage.subscribe(ALICE, "ukraine", now=self.clock())

    def new_poller(self) -> Poller:
        """A poller with a clusterer, as a (re)started bot has."""
        return Poller(
            self.storage,
            self.fetcher,
            PollSettings(interval=timedelta(minutes=1)),
            rng=random.Random(3),
            clusterer=Clusterer(),
        )

    async def poll(self, poller: Poller | None = None) -> None:
        self.clock.advance(seconds=1)
        sources = await self.storage.list_sources()
        outcomes = await (poller or self.poller).poll_sources(sources, self.clock())
        assert all(outcome.status != "error" for outcome in outcomes), outcomes

    async def bbc_pushes_the_swap(self, message_id: int) -> Delivery:
        """First polls, then BBC's report of the swap: pushed to the chat as `message_id`."""
        await self.poll()
        self.publish("BBC", swap_report("BBC", self.clock, 30))
        await self.poll()
        [push] = await self.storage.claim_deliveries(limit=10, now=self.clock())
        await self.storage.mark_sent_many([SentRow(push.id, message_id, ())], now=self.clock())
        return push


@pytest.fixture
async def room(storage: SqlStorage, feeds: FeedServer, clock: Clock) -> AsyncIterator[Newsroom]:
    """The newsroom, its sources added and the chat subscribed (nothing polled yet)."""
    async with Fetcher() as fetcher:
        room = Newsroom(storage, feeds, clock, fetcher)
        await room.start()
        yield room


async def test_one_event_is_one_latest_entry_and_one_push_then_an_edit(
    room: Newsroom, storage: SqlStorage, clock: Clock
) -> None:
    await room.poll()  # first polls: stored, never pushed
    room.publish("BBC", swap_report("BBC", clock, 30), heat_report(clock))
    await room.poll()
    pushes = await storage.claim_deliveries(limit=10, now=clock())
    assert sorted(d.story.title[:20] for d in pushes) == [
        "Ukraine and Russia s",
        "Ukraine's farmers co",
    ], "the event and the unrelated story on the same topic are pushed separately"
    swap_push = next(d for d in pushes if "prisoners" in d.story.title)
    assert swap_push.also == ()
    await storage.mark_sent_many([SentRow(d.id, 500 + d.id, d.also) for d in pushes], now=clock())
    assert await storage.claim_edits(clock()) == []

    room.publish("DW", swap_report("DW", clock, 20))
    room.publish("Reuters", swap_report("Reuters", clock, 10))
    await room.poll()
    assert await storage.claim_deliveries(limit=10, now=clock()) == [], (
        "no second push of an event the chat already has"
    )
    due = await storage.claim_edits(clock())
    assert [(card.delivery_id, card.message_id) for card in due] == [
        (swap_push.id, 500 + swap_push.id)
    ]
    assert due[0].also == ("DW", "Reuters") and due[0].shown == ()

    listed, more = await latest_events(storage, parse_topic("ukraine"), 5)
    assert not more
    assert [event.lead.source_name for event in listed] == ["BBC", "BBC"]
    swap = next(event for event in listed if "prisoners" in event.lead.title)
    assert swap.lead.title.startswith("Ukraine and Russia swap"), "the first report leads"
    assert swap.outlets == ("BBC", "DW", "Reuters") and swap.more_sources == 2
    text = latest_messages("Latest on ukraine", listed, clock(), texts=english())[0]
    assert "<i>BBC</i> +2 sources" in text
    assert text.count("<b>Ukraine and Russia swap 300 prisoners") == 1
    assert "Kyiv and Moscow" not in text and "Emirati-brokered" not in text, (
        "other reports of an event are counted, not listed"
    )


async def test_edits_come_at_most_once_a_minute_and_never_after_48_hours(
    room: Newsroom, storage: SqlStorage, clock: Clock
) -> None:
    await room.bbc_pushes_the_swap(77)

    room.publish("DW", swap_report("DW", clock, 20))
    await room.poll()
    [card] = await storage.claim_edits(clock())
    await storage.mark_edited(card.delivery_id, shown=card.also, now=clock())

    room.publish("Reuters", swap_report("Reuters", clock, 10))
    await room.poll()
    assert await storage.claim_edits(clock()) == [], "edited seconds ago: not yet"
    clock.advance(seconds=61)
    [card] = await storage.claim_edits(clock())
    assert card.also == ("DW", "Reuters") and card.shown == ("DW",)
    await storage.retry_edit(card.delivery_id, at=clock() + timedelta(hours=49))
    clock.advance(hours=49)
    assert await storage.claim_edits(clock()) == [], "a card older than 48 h is left alone"


async def test_a_restarted_poller_keeps_its_clusters(
    room: Newsroom, storage: SqlStorage, clock: Clock
) -> None:
    push = await room.bbc_pushes_the_swap(78)

    restarted = room.new_poller()
    room.publish("DW", swap_report("DW", clock, 20))
    await room.poll(restarted)
    assert await storage.claim_deliveries(limit=10, now=clock()) == []
    [card] = await storage.claim_edits(clock())
    assert card.delivery_id == push.id and card.also == ("DW",)
    members = await storage.cluster_members([push.story.id])
    assert [story.source_name for story in members[push.story.id]] == ["BBC", "DW"]


async def test_a_first_polls_backlog_is_clustered_after_the_tick(
    room: Newsroom, storage: SqlStorage, clock: Clock
) -> None:
    room.publish("BBC", swap_report("BBC", clock, 50))
    room.publish("DW", swap_report("DW", clock, 40))
    await room.poll()
    ukraine = parse_topic("ukraine")
    listed, _ = await latest_events(storage, ukraine, 5)
    assert len(listed) == 2, "stored and searchable at once, clustered later"
    # The two reports, and the three old seed quizzes too: every story joins its event (here,
    # each its own), whatever its age.
    assert await room.poller.cluster_backlog(clock()) == 5
    assert await room.poller.cluster_backlog(clock()) == 0
    [event] = (await latest_events(storage, ukraine, 5))[0]
    assert event.outlets == ("BBC", "DW")
    assert await storage.claim_deliveries(limit=10, now=clock()) == [], "a backlog is not pushed"


async def test_latest_pages_through_events_without_repeating_one(
    storage: SqlStorage, clock: Clock
) -> None:

    outlets = [
        await storage.add_source(f"https://o{n}.example/feed", now=clock()) for n in range(3)
    ]
    drafts = []
    # Newest first: the summit (3 reports), floods, the summit again (older), a strike.
    for minutes, outlet, title in [
        (1, 0, "Ukraine summit opens in Geneva"),
        (2, 1, "Geneva summit on Ukraine begins"),
        (3, 0, "Ukraine hit by spring floods"),
        (4, 2, "Leaders gather in Geneva for Ukraine summit"),
        (5, 1, "Ukraine rail strike called off"),
    ]:
        drafts.append(
            english_story(
                outlets[outlet].id,
                title,
                link=f"https://o{outlet}.example/{minutes}",
                published_at=clock() - timedelta(minutes=minutes),
            )
        )
    stored = {story.title: story.id for story in await storage.store_stories(drafts, now=clock())}
    summit = stored["Leaders gather in Geneva for Ukraine summit"]  # the first report leads
    await storage.assign_clusters(
        [ClusterAssignment(stored[title], summit) for title in stored if "ummit" in title],
        now=clock(),
    )
    ukraine = parse_topic("ukraine")
    seen: list[str] = []
    cursor = None
    while True:  # nothing remembered between pages but the cursor, as the "More" button
        page, more = await latest_events(storage, ukraine, 1, before=cursor)
        if not page:
            break
        seen += [event.lead.title for event in page]
        cursor = (page[-1].matched.published_at, page[-1].matched.id)
        if not more:
            break
    assert seen == [
        "Leaders gather in Geneva for Ukraine summit",
        "Ukraine hit by spring floods",
        "Ukraine rail strike called off",
    ]


async def test_an_excluded_source_never_leads_an_event(
    room: Newsroom, storage: SqlStorage, clock: Clock
) -> None:
    await room.poll()
    room.publish("BBC", swap_report("BBC", clock, 30))  # the first report
    await room.poll()
    room.publish("DW", swap_report("DW", clock, 20))
    await room.poll()
    [event], _ = await latest_events(storage, parse_topic("ukraine -source:bbc"), 5)
    assert event.lead.source_name == "DW" and event.outlets == ("BBC", "DW")
    [event], _ = await latest_events(storage, parse_topic("ukraine"), 5)
    assert event.lead.source_name == "BBC"


async def test_cards_in_a_chat_that_blocked_the_bot_are_not_edited(
    room: Newsroom, storage: SqlStorage, clock: Clock
) -> None:
    await room.bbc_pushes_the_swap(79)
    await storage.deactivate_chat(ALICE, reason="Forbidden: bot was blocked", now=clock())
    room.publish("DW", swap_report("DW", clock, 20))
    await room.poll()
    assert await storage.claim_edits(clock()) == []


async def test_an_event_is_led_by_its_report_in_the_readers_language(
    storage: SqlStorage, clock: Clock
) -> None:
    """Issue 23: a German reader's /latest entry shows the German report of an event that has
    one (an event without one keeps its first report), never one the topic leaves out."""
    reports = [  # outlet, language, title, minutes ago: the first direct talks since 2022
        ("bbc", "en", "Russia and Ukraine hold first direct talks in three years in Istanbul", 30),
        ("tagesschau", "de", "Ukraine und Russland verhandeln erstmals seit 2022 direkt", 20),
        ("suspilne", "uk", "Україна та Росія вперше за три роки провели прямі переговори", 10),
    ]
    stored = []
    for outlet, language, title, minutes in reports:
        source = await storage.add_source(f"https://{outlet}.example/feed", now=clock())
        draft = StoryDraft(
            source_id=source.id,
            entry_id=title,
            title=title,
            summary="",
            link=f"https://{outlet}.example/talks",
            published_at=clock() - timedelta(minutes=minutes),
            language=language,
            terms=document_terms(title, language),
        )
        [story] = await storage.store_stories([draft], now=clock())
        stored.append(story)
    lead = stored[0].id
    await storage.assign_clusters(
        [ClusterAssignment(story.id, lead) for story in stored], now=clock()
    )

    async def led_in(language: str | None, topic: str = "ukraine") -> str:
        [event], _ = await latest_events(storage, parse_topic(topic), 5, language=language)
        assert event.more_sources == 2
        return event.lead.language

    assert await led_in(None) == "en"
    assert await led_in("de") == "de"
    assert await led_in("uk") == "uk"
    assert await led_in("fr") == "en", "no French report: the first report leads"
    assert await led_in("de", "ukraine -source:tagesschau") == "en"


async def test_reports_in_three_languages_are_one_event_across_a_restart(
    storage: SqlStorage, clock: Clock
) -> None:
    """Issue 23: the keeper links a German report to the English event by their meanings; what
    linking needs is stored with the clusters, so a restarted keeper links the French report to
    the same event, and storage lists the three as one."""
    from news.polling.cluster_keeper import ClusterKeeper
    from tests.crosslanguage import stories_with_meanings

    labelled, meanings = stories_with_meanings("multi")
    reports = {
        story.language: story
        for story in labelled
        if story.label == "wagner-mutiny" and story.language in ("en", "de", "fr")
    }
    stored = {}
    for minutes, language in ((40, "en"), (30, "de"), (20, "fr")):
        report = reports[language]
        source = await storage.add_source(f"https://{language}.example/feed", now=clock())
        draft = StoryDraft(
            source_id=source.id,
            entry_id=report.title,
            title=report.title,
            summary=report.summary,
            link=f"https://{language}.example/wagner",
            published_at=clock() - timedelta(minutes=minutes),
            language=language,
            terms=document_terms(f"{report.title} {report.summary}", language),
        )
        [story] = await storage.store_stories([draft], now=clock())
        stored[language] = (story, meanings[report.story_id])

    keeper = ClusterKeeper(storage, Clusterer())
    for language in ("en", "de"):
        story, meaning = stored[language]
        await keeper.place([story], clock(), meanings={story.id: meaning})
    restarted = ClusterKeeper(storage, Clusterer())
    story, meaning = stored["fr"]
    await restarted.place([story], clock(), meanings={story.id: meaning})

    event = stored["en"][0].id
    members = await storage.cluster_members([event])
    assert sorted(story.language for story in members[event]) == ["de", "en", "fr"]
    assert restarted.clusterer.cluster_of(stored["de"][0].id) == event


async def test_a_backlog_with_stored_meanings_is_linked_across_languages(
    storage: SqlStorage, clock: Clock
) -> None:
    """Stories clustered off the poll's path (a first poll's backlog) are linked by the
    meanings storage keeps of them."""
    from news.meaning import pack
    from news.polling.cluster_keeper import ClusterKeeper
    from tests.crosslanguage import stories_with_meanings

    labelled, meanings = stories_with_meanings("multi")
    stored = []
    for minutes, language in ((40, "en"), (30, "de")):
        report = next(
            story
            for story in labelled
            if story.label == "wagner-mutiny" and story.language == language
        )
        source = await storage.add_source(f"https://{language}.example/feed", now=clock())
        draft = StoryDraft(
            source_id=source.id,
            entry_id=report.title,
            title=report.title,
            summary=report.summary,
            link=f"https://{language}.example/wagner",
            published_at=clock() - timedelta(minutes=minutes),
            language=language,
            terms=document_terms(f"{report.title} {report.summary}", language),
        )
        [story] = await storage.store_stories([draft], now=clock())
        [packed] = pack(meanings[report.story_id][None, :])
        await storage.store_meanings([(story.id, packed)])
        stored.append(story)

    assert await ClusterKeeper(storage, Clusterer()).backlog(clock(), batch=10) == 2
    event = stored[0].id
    members = await storage.cluster_members([event])
    assert [story.language for story in members[event]] == ["en", "de"]
