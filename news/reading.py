"""Reading the news: what /latest lists, which stories are related, what a story card holds.

These are the product's use cases, not Telegram's: the bot's handlers, the `newsbot` command and
the benchmarks all call them here, over the storage ports they read (`Library`: stories and
clusters; a card also reads the outbox, `CardLibrary`), and only render the result their own way.
What changes what the bot reads or a chat receives lives beside this module, in `news.curation`.

An event is listed once, however many outlets report it: its lead report, with "+N sources"
(see `news.events.coverage`). Pages use a keyset cursor, the (published time, id) of the newest
matching report of the last event shown, never an offset, so stories arriving meanwhile neither
repeat nor hide older ones. An event with a matching report at or after the cursor was listed on an
earlier page, so later pages skip it without remembering what was shown
(`news.events.coverage.listed_above`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from news.errors import TopicError
from news.events import Event, events, first_of_each_outlet, listed_above, other_reports
from news.model import Cursor, Story
from news.policy import DEFAULT_LATEST as DEFAULT_LATEST
from news.policy import MAX_LATEST as MAX_LATEST
from news.ports import Clusters, Outbox, Stories
from news.topics import Topic, parse_topic

#: Related events on a story card: enough to follow the topic, few enough to read.
RELATED_LIMIT = 5
#: Related events older than this are history, not context for today's story.
RELATED_MAX_AGE = timedelta(days=7)
# Rounds of reading further back when a page's stories are mostly copies of a few events.
_FETCH_ROUNDS = 4


class Library(Stories, Clusters, Protocol):
    """What listing events reads: the stories, and the reports of each one's event."""


class CardLibrary(Library, Outbox, Protocol):
    """What a story card reads besides: the topics the story was pushed to the chat for."""


async def latest_events(
    storage: Library,
    topic: Topic | None,
    count: int,
    *,
    before: tuple[datetime, int] | None = None,
    skip: frozenset[int] = frozenset(),
    language: str | None = None,
) -> tuple[list[Event], bool]:
    """Up to `count` events on `topic`, newest first, and whether older ones remain.

    With `before` (a page's cursor), events listed above it are left out, as are the events
    in `skip`. With the reader's `language`, an event reported in it is led by that report.
    """
    # The first read is what a list without copies needs; only copies make it read on.
    batch = count + 1
    found: list[Story] = []
    members: dict[int, list[Story]] = {}
    keys: set[int] = set()
    exhausted = False
    cursor = None if before is None else Cursor(*before)
    for _ in range(_FETCH_ROUNDS):
        page = await storage.latest(topic, limit=batch, before=cursor)
        found += page
        if before is not None:
            await _load_members(storage, page, members)
        keys.update(
            story.event
            for story in page
            if story.event not in skip and not _above(story, members, topic, before)
        )
        exhausted = len(page) < batch
        if exhausted or len(keys) > count:
            break
        cursor = Cursor(page[-1].published_at, page[-1].id)
        batch = 2 * count
    await _load_members(storage, found, members)
    above = {story.event for story in found if _above(story, members, topic, before)}
    listed = events(found, members, skip=skip | above, topic=topic, language=language)
    return listed[:count], len(listed) > count or not exhausted


async def _load_members(
    storage: Clusters, stories: list[Story], members: dict[int, list[Story]]
) -> None:
    wanted = {s.cluster_id for s in stories if s.cluster_id is not None} - members.keys()
    if wanted:
        members.update(await storage.cluster_members(sorted(wanted)))


def _above(
    story: Story,
    members: dict[int, list[Story]],
    topic: Topic | None,
    before: tuple[datetime, int] | None,
) -> bool:
    if before is None or story.cluster_id is None:
        return False
    return listed_above(members.get(story.cluster_id, ()), topic, before)


async def related_events(
    storage: Library, story: Story, topics: tuple[str, ...], *, since: datetime
) -> list[Event]:
    """Events since `since` on the first of `topics` that parses, other than the story's own."""
    for text in topics:
        try:
            topic = parse_topic(text)
        except TopicError:
            continue
        listed, _ = await latest_events(
            storage, topic, RELATED_LIMIT, skip=frozenset({story.event})
        )
        return [event for event in listed if event.matched.published_at >= since]
    return []


@dataclass(frozen=True, slots=True)
class StoryCard:
    """What a story card shows, before any rendering.

    `other_reports` holds each other outlet's first report of the event; `related` the recent
    events on the topic the story was pushed to the chat for.
    """

    story: Story
    key_points: list[str]
    other_reports: list[Story]
    related: list[Event]


async def story_card(
    storage: CardLibrary, story: Story, *, chat_id: int, now: datetime, thread_id: int = 0
) -> StoryCard:
    """The card of `story` as shown in `chat_id` (in its forum topic `thread_id`, 0 for the
    chat itself): key points, other outlets, related events.

    Key points come from the story's own text, and from the other reports when the feed gave
    only a teaser (see `news.events.keypoints`).
    """
    # Imported here: only a card needs the key-point extractor and its clusterer vocabulary.
    from news.events.keypoints import key_points

    members = (
        (await storage.cluster_members([story.cluster_id], bodies=True)).get(story.cluster_id, [])
        if story.cluster_id is not None
        else []
    )
    others = other_reports(members, story)
    points = key_points(
        story.body or story.summary,
        story.language,
        title=story.title,
        related=[report.body or report.summary for report in others],
    )
    topics = await storage.delivery_topics(chat_id, story.id, thread_id=thread_id)
    related = await related_events(storage, story, topics, since=now - RELATED_MAX_AGE)
    return StoryCard(
        story=story,
        key_points=[point.text for point in points],
        other_reports=first_of_each_outlet(others),
        related=related,
    )
