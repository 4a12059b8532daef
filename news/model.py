"""Plain data types shared by every layer: sources, stories, subscriptions, poll outcomes, and
what storage is handed (`PollRecord`) or reports (`SourcesPlan`, `OperationsStatus`, `PruneReport`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from news.errors import N_, ErrorKind

# Why a source is not polled: it left the sources file, an admin removed it, or the feed
# answered 410 Gone. Its stories stay (until retention) whatever the reason.
DisabledReason = Literal["unlisted", "removed", "gone"]
#: Why a source is not read, as its readers are told (`/sources`, `newsbot sources list`).
DISABLED_BECAUSE: dict[str, str] = {
    # Translators: why a source is disabled, after "⏸ disabled:" in /sources.
    "unlisted": N_("no longer in the sources file"),
    "removed": N_("removed by an admin"),
    "gone": N_("the feed is gone (HTTP 410)"),
}
# What one poll found: new content ("ok"), a 304, the body of the last poll again, or a failure.
PollStatus = Literal["ok", "not-modified", "unchanged", "error"]
# Where an outbox row is: owed, claimed by a sender (under a lease), out, or given up on.
DeliveryState = Literal["pending", "sending", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class Source:
    """A feed the scheduler polls, with what the last poll learned about it."""

    id: int
    url: str
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    error_count: int = 0
    next_poll_at: datetime | None = None
    enabled: bool = True
    stories_count: int = 0
    origin: str = "user"
    last_error_at: datetime | None = None
    poll_interval: timedelta | None = None
    target_interval: timedelta | None = None
    disabled_reason: DisabledReason | None = None

    @property
    def name(self) -> str:
        """What readers see as the source's name: its feed title, else its host."""
        return self.title or urlsplit(self.url).hostname or self.url


@dataclass(frozen=True, slots=True)
class StoryDraft:
    """A story as it comes out of a feed, before storage gives it an id."""

    source_id: int
    entry_id: str
    title: str
    summary: str
    link: str
    published_at: datetime
    language: str
    terms: tuple[str, ...] = ()
    body: str = ""
    # The story's picture (`news.feeds.images`), when its feed names one.
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class Story:
    """A stored story, as readers see it."""

    id: int
    source_id: int
    source_name: str
    title: str
    summary: str
    link: str
    published_at: datetime
    first_seen_at: datetime
    language: str = "en"
    terms: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # The cluster of reports of one event this story belongs to (see `news.events.clustering`); None
    # for a story that was never clustered, which stands alone.
    cluster_id: int | None = field(default=None, compare=False)
    # The story's own text beyond its summary (up to 2,000 characters), when the feed carries
    # it; read only where the story card needs it.
    body: str = field(default="", compare=False, repr=False)
    # The story's picture (`news.feeds.images`): an http(s) URL its pushes preview, when it has one.
    image_url: str | None = None

    @property
    def event(self) -> int:
        """The key of the story's event: its cluster, or itself when it stands alone."""
        return self.cluster_id if self.cluster_id is not None else self.id


#: Where reading a story's article stands: due when its `retry_at` comes ("wanted"), claimed by
#: a reader until then ("reading"), "read", or "unavailable" for good (a paywall, robots.txt, no
#: article text, or every attempt failed; see `news.articles.keeping`).
ArticleState = Literal["wanted", "reading", "read", "unavailable"]


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """A story's article as stored: its text and key points once read, else why not (`kind`,
    the last failure's `ArticleUnavailable.kind`) and when it may be tried again."""

    story_id: int
    state: ArticleState
    text: str = ""
    key_points: tuple[str, ...] = ()
    kind: str | None = None
    attempts: int = 0
    read_at: datetime | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ArticleJob:
    """A claimed article to read: its story's link and headline, the URL of the feed it came
    from and the links of that feed's latest stories (together, the site its page must belong
    to), and how often it was tried."""

    story_id: int
    url: str
    title: str
    site: str
    attempts: int = 0
    feed_links: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Coverage:
    """Who reports an event, as storage keeps it: the first report of each of its first few
    outlets (first reporter first) and how many outlets there are in all."""

    first: tuple[Story, ...]
    outlets: int


@dataclass(frozen=True, slots=True)
class Found:
    """One read of /latest's search with what listing it needs, in one statement: the stories
    (newest first), the outlets kept of each of their clusters (`Coverage`; a cluster with none
    kept is left out), and, when paging, which of those clusters have a matching report at or
    after the page's cursor (listed on a page above)."""

    stories: list[Story]
    coverage: dict[int, Coverage]
    listed_above: set[int]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A chat's standing interest in a topic, kept in the topic's normal form.

    `thread_id` is the forum topic of a supergroup the pushes go to (Telegram's
    `message_thread_id`); 0 is the chat itself.
    """

    chat_id: int
    topic: str
    created_at: datetime
    thread_id: int = 0
    #: The chat's language (chosen in /settings, else its subscriber's; None: unknown): the
    #: language its topics are written in when their letters do not tell (`news.topics.meanings`).
    language: str | None = field(default=None, compare=False)


#: How a push previews its story: not at all, small, or a large image above the text.
PreviewMode = Literal["off", "small", "large"]


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """How a chat wants its pushes: instantly, paused, or as one daily digest; and how they
    look and sound (/settings)."""

    chat_id: int
    kind: str
    active: bool = True
    paused: bool = False
    digest_time: str | None = None
    timezone: str | None = None
    #: The language of whoever subscribed it last ("uk"); None: the bot's default, English.
    language: str | None = None
    #: Link previews under its pushes: none, a small one, or a large image above the text.
    preview: PreviewMode = "small"
    #: Pushes arrive without a notification sound.
    silent: bool = False
    #: Quiet hours, in minutes after midnight in the chat's time zone: pushes due from
    #: `quiet_start` until `quiet_end` (which may be the next day) are held and sent as one
    #: digest when they end. None: no quiet hours.
    quiet_start: int | None = None
    quiet_end: int | None = None
    #: The language chosen in /settings; None: automatic (see `push_language`).
    chosen_language: str | None = None

    @property
    def push_language(self) -> str | None:
        """The language pushes are written in: the chosen one, else the subscriber's."""
        return self.chosen_language or self.language


@dataclass(frozen=True, slots=True)
class Delivery:
    """One story owed to one chat: a row of the outbox."""

    id: int
    chat_id: int
    story: Story
    topics: tuple[str, ...]
    state: DeliveryState
    attempts: int = 0
    # The other outlets that report the story's event, first reporter first.
    also: tuple[str, ...] = ()
    # The forum topic it goes to; 0: the chat itself.
    thread_id: int = 0
    # Held back by the chat's quiet hours: sent in their digest when they end.
    held: bool = False


@dataclass(frozen=True, slots=True)
class PushedMessage:
    """A pushed card whose event other outlets have reported since: due for an "Also:" edit."""

    delivery_id: int
    chat_id: int
    message_id: int
    story: Story
    topics: tuple[str, ...]
    also: tuple[str, ...]
    shown: tuple[str, ...]


class Cursor(NamedTuple):
    """Where a page of stories ended: the (published time, id) of its last story. The next page
    starts after it (a keyset, never an offset)."""

    published_at: datetime
    story_id: int


class ClusterAssignment(NamedTuple):
    """A story placed in its cluster (the id of the story that opened it)."""

    story_id: int
    cluster_id: int


class TopicMatch(NamedTuple):
    """A story a chat (in one of its forum topics, 0 for the chat itself) is owed, and the
    topics followed there that it matched."""

    chat_id: int
    story_id: int
    topics: tuple[str, ...]
    thread_id: int = 0


class SentRow(NamedTuple):
    """An outbox row that went out: in which message, and the outlets its card names (None for
    a digest, which is never edited)."""

    delivery_id: int
    message_id: int | None
    shown: tuple[str, ...] | None


@dataclass(slots=True)
class PollOutcome:
    """What one poll of one source did: a value, so one broken feed never stops the others."""

    source_url: str
    status: PollStatus
    new_stories: int = 0
    seen_entries: int = 0
    error: str | None = None
    queued_deliveries: int = 0
    new_story_ids: list[int] = field(default_factory=list)
    error_kind: ErrorKind | None = None
    next_poll_at: datetime | None = None
    moved_to: str | None = None
    disabled: bool = False

    def summary_line(self) -> str:
        """One line for a terminal: what happened to this source."""
        if self.status == "error":
            return f"✗ {self.source_url}: {self.error}"
        if self.status == "not-modified":
            return f"· {self.source_url}: not modified"
        if self.status == "unchanged":
            return f"· {self.source_url}: unchanged"
        return f"✓ {self.source_url}: {self.seen_entries} entries, {self.new_stories} new" + (
            f", {self.queued_deliveries} to push" if self.queued_deliveries else ""
        )


@dataclass(frozen=True, slots=True)
class PollRecord:
    """What one poll changes in its source's row: a failure if `error_kind` is set, else a success.

    A success keeps what the poll learnt (validators, body hash, intervals, title when given) and
    clears the error state; `url` is where the feed moved permanently. A failure counts one more
    error, and `disable` stops polling the source (the feed is gone).
    """

    source_id: int
    now: datetime
    next_poll_at: datetime
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None
    poll_interval: timedelta | None = None
    target_interval: timedelta | None = None
    url: str | None = None
    error_kind: str | None = None
    error: str = ""
    disable: bool = False


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one retention run deleted, and in how many transactions (batches)."""

    deliveries: int = 0
    chats: int = 0
    stories: int = 0
    batches: int = 0

    def __add__(self, other: PruneReport) -> PruneReport:
        return PruneReport(
            self.deliveries + other.deliveries,
            self.chats + other.chats,
            self.stories + other.stories,
            self.batches + other.batches,
        )

    def __bool__(self) -> bool:
        return bool(self.deliveries or self.chats or self.stories)


@dataclass(frozen=True, slots=True)
class SourcesPlan:
    """What syncing a sources file changes (`news.feeds.sources.plan_sync`). Nothing is ever
    deleted: a file source that left the file is disabled and keeps its stories; listed again, it is
    enabled with its history."""

    added: tuple[str, ...] = ()
    restored: tuple[str, ...] = ()
    unlisted: tuple[str, ...] = ()
    kept_stories: int = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.restored or self.unlisted)

    def describe(self) -> str:
        """ "20 sources added, 200 disabled (their 6,451 stories stay searchable)" """
        parts = []
        if self.added:
            parts.append(f"{_count(len(self.added), 'source')} added")
        if self.unlisted:
            parts.append(
                f"{_count(len(self.unlisted), 'source')} disabled (their "
                f"{_count(self.kept_stories, 'story', 'stories')} stay searchable)"
            )
        if self.restored:
            parts.append(f"{_count(len(self.restored), 'source')} enabled again")
        return ", ".join(parts) if parts else "no change"


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number:,} {one if number == 1 else many or one + 's'}"


@dataclass(frozen=True, slots=True)
class OperationsStatus:
    """What an operator asks of the running bot, one look at the database taken at `now`.

    Answered by `Storage.operations_status`: the outbox's depth and oldest pending push, how late
    the most overdue source is, the last poll any poller recorded and the sources whose last poll
    failed. `/status` shows it to admins, and `/metrics` exports it (`bot.metrics`). A source
    fails "for a day" when its last poll failed and no poll of it has succeeded for
    `news.policy.REPORT_FAILING_AFTER` (since it was added, when none ever did); admins are told
    once per such streak (`Storage.claim_failing_reports`).
    """

    now: datetime
    sources_enabled: int = 0
    # Enabled sources whose last poll failed: how many, and the longest failing first.
    failing_count: int = 0
    failing: list[Source] = field(default_factory=list)
    outbox_pending: int = 0
    outbox_sending: int = 0
    oldest_pending_at: datetime | None = None
    # The due time of the most overdue source that no poller has claimed yet.
    oldest_due_at: datetime | None = None
    last_polled_at: datetime | None = None

    @property
    def oldest_pending_age(self) -> timedelta:
        """How long the oldest pending push has waited (zero when none waits)."""
        return _since(self.oldest_pending_at, self.now)

    @property
    def poll_lag(self) -> timedelta:
        """How far behind its due time the most overdue source is (zero when none is due)."""
        return _since(self.oldest_due_at, self.now)


def _since(moment: datetime | None, now: datetime) -> timedelta:
    return max(now - moment, timedelta(0)) if moment is not None else timedelta(0)
