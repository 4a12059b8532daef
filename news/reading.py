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

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from news.errors import TopicError
from news.events import Event, events
from news.model import Coverage, Cursor, Story, StoryArticle
from news.policy import ALSO_NAMED, OTHER_REPORTS_SHOWN
from news.policy import DEFAULT_LATEST as DEFAULT_LATEST
from news.policy import MAX_LATEST as MAX_LATEST
from news.ports import Clusters, Outbox, Stories
from news.topics import Topic, parse_topic

if TYPE_CHECKING:
    from news.meaning import SentenceEncoder
    from news.topics.meanings import TopicMeaning, Window

#: Related events on a story card: enough to follow the topic, few enough to read.
RELATED_LIMIT = 5
#: Related events older than this are history, not context for today's story.
RELATED_MAX_AGE = timedelta(days=7)
#: Outlets read of each listed event: enough to name ALSO_NAMED besides the lead's own.
_OUTLETS_READ = ALSO_NAMED + 1
# Rounds of reading further back when a page's stories are mostly copies of a few events.
_FETCH_ROUNDS = 4
#: Above this many alternatives (a country's names and demonyms in six languages: 10-34), a
#: search costs most in looking its terms up, not in the rows it returns, and its matches are
#: often copies of one event: its first read takes two lists' worth, so that one read serves.
#: At 10,000,000 stories on SQLite, "maputo" (28 alternatives) 28.7 -> 16.1 ms; the very
#: common class's p99 30-34 -> 17-19 ms (bench/bench_latest.py, docs/benchmarks.md part D).
_MANY_TERMS = 8
#: How far back /latest looks for stories in other languages by meaning: the clustering
#: window, two days, where an event's reports in other languages arrive and where the meanings
#: of new stories are kept first. Older stories are found by their words alone.
MEANING_WINDOW = timedelta(hours=48)
#: The newest stories' meanings read for it at most: 6,000 × 512 bytes is 3 MB, scored in
#: a few milliseconds; a feed list busier than 3,000 stories a day looks back less far.
MEANING_STORIES = 6000
#: Stories found by words whose meanings draw the topic's (the newest), at most.
MEANING_SEEDS = 50
#: Stories found by meaning listed at most (the newest).
MEANING_FOUND = 60
#: Topics whose encoded texts are kept (the most recently asked).
_TOPICS_KEPT = 512
#: How often the window's meanings are read whole (and its background worked out: a product
#: of 6,000 × 512 × 512); in between each /latest reads only the last `_FRESH`'s.
WINDOW_REFRESH = timedelta(minutes=10)
_FRESH = timedelta(hours=1)


class Library(Stories, Clusters, Protocol):
    """What listing events reads: the stories, and the reports of each one's event."""


class CardLibrary(Library, Outbox, Protocol):
    """What a story card reads besides: the topics the story was pushed to the chat for."""


class CardArticles(Protocol):
    """Where a card finds its story's article (`news.articles.keeping.ArticleKeeper`): stored,
    or read within a bounded wait; None when there is none to show."""

    async def for_card(self, story: Story) -> StoryArticle | None: ...


class AcrossLanguages:
    """Finds, for /latest and inline mode, the stories in other languages than a topic's that
    match it by meaning (`news.topics.meanings`), among the stories of `MEANING_WINDOW`.

    A topic's texts are encoded once (kept for the `_TOPICS_KEPT` last asked), in a thread, as
    is the window when it is read or grows; the scoring, a millisecond or two, is not.
    `encoder` None is the process's (`news.meaning.default_encoder`).
    """

    def __init__(
        self, clock: Callable[[], datetime], encoder: SentenceEncoder | None = None
    ) -> None:
        self._clock = clock
        self._encoder = encoder
        self._topics: dict[str, TopicMeaning] = {}
        self._cached: Window | None = None

    async def _meaning(self, topic: Topic) -> TopicMeaning:
        from news.topics.meanings import meaning_texts, topic_meaning

        known = self._topics.pop(topic.text, None)
        if known is None:
            if self._encoder is None:
                from news.meaning import default_encoder

                self._encoder = default_encoder()
            alternatives, excluded = meaning_texts(topic)
            vectors = await asyncio.to_thread(self._encoder.encode, alternatives + excluded)
            known = topic_meaning(vectors, len(alternatives))
        self._topics[topic.text] = known
        while len(self._topics) > _TOPICS_KEPT:
            del self._topics[next(iter(self._topics))]
        return known

    async def _window(self, storage: Stories) -> Window | None:
        """The window's meanings: read whole every `WINDOW_REFRESH` (its background worked out
        then), and in between the newest hour's added to it."""
        from news.topics.meanings import Window

        now = self._clock()
        window = self._cached
        if window is None or now - window.read_at >= WINDOW_REFRESH or now < window.read_at:
            recent = await storage.recent_meanings(now - MEANING_WINDOW, limit=MEANING_STORIES)
            window = self._cached = await asyncio.to_thread(Window.of, recent, now)
        else:
            # The newest hour's ids first: most requests find the window has them all, and
            # read no meaning.
            fresh = await storage.recent_meaning_ids(now - _FRESH, limit=MEANING_STORIES)
            missing = [
                (story_id, language) for story_id, language in fresh if window.lacks_id(story_id)
            ]
            if missing:
                packed = await storage.meanings([story_id for story_id, _ in missing])
                newest = [
                    (story_id, language, packed[story_id])
                    for story_id, language in missing
                    if story_id in packed
                ]
                window = self._cached = await asyncio.to_thread(window.with_newest, newest)
        return window if window.ids else None

    async def find(
        self, storage: Stories, topic: Topic, language: str | None
    ) -> tuple[list[Story], set[int]]:
        """The stories of the window in other languages than the topic's that match it by
        meaning, newest first, and the ids of those (found by words or not) that its exclusions
        leave out by meaning. The newest `MEANING_SEEDS` stories the topic's words find draw
        its meaning. `language` is the reader's: the topic's when its letters do not tell."""
        if topic.is_outlet:
            return [], set()
        from news.topics.meanings import topic_language

        own = topic_language(topic, language)
        meaning = await self._meaning(topic)
        window = await self._window(storage)
        if window is None:
            return [], set()
        wanted = set(await storage.latest_ids(topic, limit=MEANING_SEEDS))
        # On the event loop: a millisecond or two of products (`Window.score`), less than
        # handing them to a thread and back costs.
        picked, left_out = window.score(meaning, own, wanted)
        picked = [story_id for story_id in picked if story_id not in wanted]
        if not picked:
            return [], left_out
        stories = await storage.stories_by_id(picked[:MEANING_FOUND])
        kept = [
            story
            for story in stories
            if topic.from_source(story.source_name)
            and not topic.matches(story.terms, source=story.source_name, language=story.language)
            and _words_allow(topic, story)
        ]
        return kept, left_out


def _words_allow(topic: Topic, story: Story) -> bool:
    """False when one of the topic's excluded words is in the story."""
    if not topic.excluded and not topic.excluded_in_language:
        return True
    probe = Topic(
        text=topic.text,
        required=(),
        excluded=topic.excluded,
        excluded_in_language=topic.excluded_in_language,
        language=topic.language,
    )
    return probe.matches(story.terms, language=story.language)


def _merged(
    page: list[Story],
    extra: Sequence[Story],
    left_out: set[int],
    before: Cursor | None,
    batch: int,
) -> tuple[list[Story], bool]:
    """One page of what words found (`page`, a full page unless the last) and what meaning
    found (`extra`, newest first), by time, less what exclusions leave out; and whether it is
    the last page."""
    last = len(page) < batch
    bound = None if last or not page else (page[-1].published_at, page[-1].id)
    seen = {story.id for story in page}
    joined = [story for story in page if story.id not in left_out]
    for story in extra:
        key = (story.published_at, story.id)
        if story.id in seen or (before is not None and key >= tuple(before)):
            continue
        if bound is not None and key < bound:
            continue
        joined.append(story)
    joined.sort(key=lambda story: (story.published_at, story.id), reverse=True)
    if len(joined) > batch:
        return joined[:batch], False
    more_extra = any(
        (before is None or (s.published_at, s.id) < tuple(before))
        and (not joined or (s.published_at, s.id) < (joined[-1].published_at, joined[-1].id))
        for s in extra
    )
    return joined, last and not more_extra


async def latest_events(
    storage: Library,
    topic: Topic | None,
    count: int,
    *,
    before: tuple[datetime, int] | None = None,
    skip: frozenset[int] = frozenset(),
    language: str | None = None,
    across: AcrossLanguages | None = None,
) -> tuple[list[Event], bool]:
    """Up to `count` events on `topic`, newest first, and whether older ones remain.

    With `across`, stories in other languages than the topic's that match it by meaning are
    listed among those its words find, by time (`AcrossLanguages`).

    With `before` (a page's cursor), events listed above it are left out, as are the events
    in `skip`. What is read does not grow with the events' sizes: the stories the search
    returns, their events' first few outlets and their number, and, when paging, which
    events had a newer matching report (asked of storage, not found in the events' reports),
    one statement for each read of the search (`Clusters.listing`).
    With the reader's `language`, an event reported in it is led by that report.
    """
    # The first read is what a list without copies needs; only copies make it read on. A
    # search of many terms reads two lists' worth at once (see `_MANY_TERMS`).
    batch = count + 1
    if topic is not None and sum(len(group) for group in topic.required) > _MANY_TERMS:
        batch = 2 * count + 1
    found: list[Story] = []
    coverage: dict[int, Coverage] = {}
    above: set[int] = set()
    keys: dict[int, None] = {}
    exhausted = False
    paging = None if before is None else Cursor(*before)
    cursor = paging
    # Before the listing's connection is taken: finding by meaning reads through others, and
    # a request holding two connections at once starves the pool under a flood.
    meant = None if across is None or topic is None else await across.find(storage, topic, language)
    async with storage.listing(topic, named=_OUTLETS_READ, paging=paging) as search:
        for _ in range(_FETCH_ROUNDS):
            page = await search.page(limit=batch, before=cursor)
            stories = page.stories
            lexical_end = len(stories) < batch
            if meant is not None and (meant[0] or meant[1]):
                stories, lexical_end = _merged(stories, meant[0], meant[1], cursor, batch)
            found += stories
            coverage.update(page.coverage)
            above |= page.listed_above
            keys.update(
                (story.event, None)
                for story in stories
                if story.event not in skip and story.event not in above
            )
            exhausted = lexical_end
            # A full list ends the reads: whether an older match is of yet another event is
            # not asked (a second statement on most /latest requests); "More" then may find
            # nothing new, and says so.
            if exhausted or len(keys) >= count:
                break
            cursor = Cursor(stories[-1].published_at, stories[-1].id)
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
