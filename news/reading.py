"""Reading the news: what /latest lists, which stories are related, what a story card holds.

These are the product's use cases, not Telegram's: the bot's handlers, the `newsbot` command and
the benchmarks all call them here, over the storage ports they read (`Library`: stories and
clusters; a card also reads the outbox, `CardLibrary`), and only render the result their own way.
What changes what the bot reads or a chat receives lives beside this module, in `news.curation`.

An event is listed once, however many outlets report it: its lead report, with "+N sources"
(see `news.events.coverage`). Pages use a keyset cursor, the (published time, id) of the newest
matching report of the last event shown, never an offset, so stories arriving meanwhile neither
repeat nor hide older ones. An event with a matching report at or after the cursor was listed on an
earlier page, so later pages skip it without remembering what was shown (storage answers which
events had such a report, with each page of the search: `Clusters.listing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from news.errors import TopicError
from news.events import Event, events
from news.model import Coverage, Cursor, Story, StoryArticle
from news.policy import ALSO_NAMED, OTHER_REPORTS_SHOWN
from news.policy import DEFAULT_LATEST as DEFAULT_LATEST
from news.policy import MAX_LATEST as MAX_LATEST
from news.ports import Clusters, Outbox, Stories
from news.topics import Topic, parse_topic

#: Related events on a story card: enough to follow the topic, few enough to read.
RELATED_LIMIT = 5
#: Related events older than this are history, not context for today's story.
RELATED_MAX_AGE = timedelta(days=7)
#: Outlets read of each listed event: enough to name ALSO_NAMED besides the lead's own.
_OUTLETS_READ = ALSO_NAMED + 1
# Rounds of reading further back when a page's stories are mostly copies of a few events.
_FETCH_ROUNDS = 4


class Library(Stories, Clusters, Protocol):
    """What listing events reads: the stories, and the reports of each one's event."""


class CardLibrary(Library, Outbox, Protocol):
    """What a story card reads besides: the topics the story was pushed to the chat for."""


class CardArticles(Protocol):
    """Where a card finds its story's article (`news.articles.keeping.ArticleKeeper`): stored,
    or read within a bounded wait; None when there is none to show."""

    async def for_card(self, story: Story) -> StoryArticle | None: ...


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
    in `skip`. What is read does not grow with the events' sizes: the stories the search
    returns, their events' first few outlets and their number, and, when paging, which
    events had a newer matching report (asked of storage, not found in the events' reports),
    one statement for each read of the search (`Clusters.listing`).
    With the reader's `language`, an event reported in it is led by that report.
    """
    # The first read is what a list without copies needs; only copies make it read on.
    batch = count + 1
    found: list[Story] = []
    coverage: dict[int, Coverage] = {}
    above: set[int] = set()
    keys: dict[int, None] = {}
    exhausted = False
    paging = None if before is None else Cursor(*before)
    cursor = paging
    async with storage.listing(topic, named=_OUTLETS_READ, paging=paging) as search:
        for _ in range(_FETCH_ROUNDS):
            page = await search.page(limit=batch, before=cursor)
            found += page.stories
            coverage.update(page.coverage)
            above |= page.listed_above
            keys.update(
                (story.event, None)
                for story in page.stories
                if story.event not in skip and story.event not in above
            )
            exhausted = len(page.stories) < batch
            if exhausted or len(keys) > count:
                break
            cursor = Cursor(page.stories[-1].published_at, page.stories[-1].id)
            batch = 2 * count
    listed = events(found, coverage, skip=skip | above, topic=topic, language=language)
    return listed[:count], len(listed) > count or not exhausted


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

    `other_reports` holds the first report of each of the first few other outlets of the event
    (`news.policy.OTHER_REPORTS_SHOWN`), `other_outlets` how many other outlets there are;
    `related` the recent events on the topic the story was pushed to the chat for.
    """

    story: Story
    key_points: list[str]
    other_reports: list[Story]
    related: list[Event]
    other_outlets: int = 0


async def story_card(
    storage: CardLibrary,
    story: Story,
    *,
    chat_id: int,
    now: datetime,
    thread_id: int = 0,
    articles: CardArticles | None = None,
) -> StoryCard:
    """The card of `story` as shown in `chat_id` (in its forum topic `thread_id`, 0 for the
    chat itself): key points, other outlets, related events.

    Key points come from the story's article when it was read (`articles`: the page a teaser
    links to), else from the story's own text, and from the other outlets' first reports when
    the feed gave only a teaser (see `news.events.keypoints`). An article that could not be
    read changes nothing: the card is the one the feed's text gives. However big the event, the
    card reads only the few other reports it shows.
    """
    # Imported here: only a card needs the key-point extractor and its clusterer vocabulary.
    from news.events.keypoints import key_points

    others = await storage.other_first_reports(story, limit=OTHER_REPORTS_SHOWN)
    article = await articles.for_card(story) if articles is not None else None
    if article is not None and article.state == "read" and len(article.key_points) >= 2:
        points = list(article.key_points)
    else:
        points = [
            point.text
            for point in key_points(
                story.body or story.summary,
                story.language,
                title=story.title,
                related=[report.body or report.summary for report in others.first],
            )
        ]
    topics = await storage.delivery_topics(chat_id, story.id, thread_id=thread_id)
    related = await related_events(storage, story, topics, since=now - RELATED_MAX_AGE)
    return StoryCard(
        story=story,
        key_points=points,
        other_reports=list(others.first),
        related=related,
        other_outlets=others.outlets,
    )
