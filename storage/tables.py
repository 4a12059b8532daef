"""The schema as SQLAlchemy tables. Alembic migrations create it; this module describes it.

Full-text search lives outside these tables because it is dialect-specific: on SQLite an FTS5
table `stories_fts` kept in step by triggers, on PostgreSQL a generated `tsvector` column with a
GIN index (see the migrations).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TextList(TypeDecorator[tuple[str, ...]]):
    """A list of strings kept in one text column, joined by `separator`; read back as a tuple.

    NULL stays None and an empty list is the empty string (read back as an empty tuple), so a
    column can tell "no list" from "an empty one". The items never contain the separator:
    terms have no spaces, topics and outlet names no line breaks.
    """

    impl = Text
    cache_ok = True

    def __init__(self, separator: str) -> None:
        super().__init__()
        self.separator = separator

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):  # a string is a sequence too: joined, it would be garbled
            raise TypeError(f"a list of strings is stored, not the string {value[:40]!r}")
        return self.separator.join(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> tuple[str, ...] | None:
        if value is None:
            return None
        return tuple(value.split(self.separator)) if value else ()


class Seconds(TypeDecorator[timedelta]):
    """A duration kept as whole seconds in an integer column."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: timedelta | None, dialect: Dialect) -> int | None:
        return None if value is None else round(value.total_seconds())

    def process_result_value(self, value: int | None, dialect: Dialect) -> timedelta | None:
        return None if value is None else timedelta(seconds=value)


def belongs_to(
    name: str, parent: str, type_: type[Integer] = Integer, **options: Any
) -> Column[Any]:
    """A column naming the `parent` row this row belongs to; the row goes when its parent goes."""
    return Column(name, type_, ForeignKey(f"{parent}.id", ondelete="CASCADE"), **options)


metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("title", String(500)),
    Column("origin", String(16), nullable=False, default="user"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("etag", String(500)),
    Column("last_modified", String(100)),
    Column("content_hash", String(64)),
    Column("last_polled_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_kind", String(50)),
    Column("error_count", Integer, nullable=False, default=0),
    Column("next_poll_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # The interval used last, and the one the source's publishing rate calls for.
    Column("poll_interval", Seconds),
    Column("target_interval", Seconds),
    Column("last_error_at", UTCDateTime),
    # Why a disabled source is not polled: "unlisted", "removed" or "gone" (see news.feeds.sources).
    Column("disabled_reason", String(16)),
    # When the admins were told the source fails for a day; cleared by a successful poll.
    Column("failure_reported_at", UTCDateTime),
    Index("ix_sources_due", "enabled", "next_poll_at"),
)

# Stories per source, kept by triggers on `stories` (migration 0009), so that /sources never
# counts the archive.
source_counts = Table(
    "source_counts",
    metadata,
    belongs_to("source_id", "sources", primary_key=True),
    Column("stories", Integer, nullable=False),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    belongs_to("source_id", "sources", nullable=False),
    Column("entry_id", String(1000), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("link", String(2048), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("language", String(16), nullable=False),
    # The story's terms (`news.topics.analysis`) in document order, which the full-text index reads.
    Column("terms", TextList(" "), nullable=False),
    # The story's cluster: the id of the story that opened it; NULL when it was never clustered
    # (too old when it arrived), which makes it a cluster of its own.
    Column("cluster_id", Integer),
    # The story's text beyond its summary (up to 2,000 characters), for the story card's key
    # points; NULL when the feed carries no more than the summary.
    Column("body", Text),
    # The story's picture (`news.feeds.images`), an http(s) URL its pushes preview; NULL without
    # one.
    Column("image_url", String(2048)),
    UniqueConstraint("source_id", "entry_id", name="uq_stories_source_entry"),
    Index("ix_stories_link", "link"),
    Index("ix_stories_published", "published_at", "id"),
    # With the time: an event's reports in order, read one cluster at a time (migration 0016).
    Index("ix_stories_cluster", "cluster_id", "published_at", "id"),
)

# What the clusterer needs, kept as it changes (migration 0015), so that a start loads the open
# clusters instead of re-analysing the window's stories, and several pollers share them
# (`news.events.cluster_state`). `version` orders the writes of every process: each reads what
# others wrote after the version it last saw; the newest version given out is `bot_state`'s
# "cluster_version".
clusters = Table(
    "clusters",
    metadata,
    # The id of the story that opened it, as `stories.cluster_id`; the row goes with that story
    # (retention keeps a lead while its cluster has younger reports).
    belongs_to("id", "stories", primary_key=True, autoincrement=False),
    Column("language", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    # The centroid, heaviest term first; the weights as little-endian 64-bit floats.
    Column("terms", TextList(" "), nullable=False),
    Column("weights", LargeBinary, nullable=False),
    Column("version", BigInteger, nullable=False),
    # The event of another language it reports (NULL: its own); an event's first cluster keeps
    # the event's meaning (`news.events.linking`), NULL when none (migration 0020).
    Column("event_id", Integer),
    Column("meaning", LargeBinary),
    Index("ix_clusters_started", "started_at"),
    Index("ix_clusters_version", "version"),
)

# Each event's outlets: per (cluster, source) the number of reports and the first report, kept by
# triggers on `stories` (migration 0016), so that "+N sources", the outlets an entry names and a
# card's first reports are read without loading the event (`storage.coverage`).
cluster_coverage = Table(
    "cluster_coverage",
    metadata,
    Column("cluster_id", Integer, primary_key=True, autoincrement=False),
    belongs_to("source_id", "sources", primary_key=True),
    Column("reports", Integer, nullable=False),
    Column("first_id", Integer, nullable=False),
    Column("first_published_at", UTCDateTime, nullable=False),
    Index("ix_cluster_coverage_first", "cluster_id", "first_published_at", "first_id"),
)

# Each cluster's number of outlets (its `cluster_coverage` rows), kept by triggers on that table.
cluster_outlets = Table(
    "cluster_outlets",
    metadata,
    Column("cluster_id", Integer, primary_key=True, autoincrement=False),
    Column("outlets", Integer, nullable=False),
)

# A clustered story's signature, without its text (`news.events.cluster_state.StorySignature`).
cluster_stories = Table(
    "cluster_stories",
    metadata,
    belongs_to("story_id", "stories", primary_key=True),
    Column("cluster_id", Integer, nullable=False),
    Column("language", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("terms", TextList(" "), nullable=False),
    Column("headline", TextList(" "), nullable=False),
    # The MinHash signature: little-endian 32-bit ints.
    Column("signature", LargeBinary, nullable=False),
    Column("version", BigInteger, nullable=False),
    # The order the stories were clustered in within one version.
    Column("seq", Integer, nullable=False),
    Index("ix_cluster_stories_published", "published_at"),
    Index("ix_cluster_stories_version", "version", "seq"),
)

# A story's article (migration 0018): the text of the page a teaser links to, read by
# `news.articles.keeping`, its key points, and where reading it stands. Only the teasers of
# pushed stories and the cards readers open have a row; it goes with its story.
articles = Table(
    "articles",
    metadata,
    belongs_to("story_id", "stories", primary_key=True, autoincrement=False),
    # `news.model.ArticleState`: "wanted" (due at `retry_at`), "reading" (claimed until
    # `retry_at`), "read", or "unavailable" (never tried again).
    Column("state", String(16), nullable=False),
    # The article's plain text, capped (`news.articles.keeping.ARTICLE_TEXT_LIMIT`), and its
    # key points, one a line; NULL until it is read.
    Column("text", Text),
    Column("key_points", TextList("\n")),
    # Why the last read failed (`ArticleUnavailable.kind`); NULL once read.
    Column("kind", String(32)),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("wanted_at", UTCDateTime, nullable=False),
    # When it was last read (or tried), and when it is due again (NULL: never).
    Column("read_at", UTCDateTime),
    Column("retry_at", UTCDateTime),
    Index("ix_articles_due", "state", "retry_at"),
)

# A story's meaning (migration 0019): its headline and lead as a sentence embedding that
# compares across languages (`news.meaning`), packed to one signed byte a dimension. Stories
# stored before 0019 get theirs later, in batches; it goes with its story.
story_meanings = Table(
    "story_meanings",
    metadata,
    belongs_to("story_id", "stories", primary_key=True, autoincrement=False),
    Column("vector", LargeBinary, nullable=False),
)

chats = Table(
    "chats",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("title", String(300)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    # "HH:MM" in the chat's `timezone` (an IANA name) when the chat takes one daily digest.
    Column("digest_time", String(5)),
    Column("timezone", String(64)),
    # When the bot last lost the chat (blocked, kicked, migrated); NULL while it is active.
    Column("inactive_since", UTCDateTime),
    # The language its pushes are written in (that of whoever subscribed it last); NULL: English.
    Column("language", String(16)),
    # /settings: link previews ("off", "small", "large"), pushes without sound, quiet hours
    # (minutes after midnight in `timezone`; NULL: none) and the language chosen there (NULL:
    # automatic), kept apart from `language`, which every /subscribe overwrites.
    Column("preview", String(8), nullable=False, default="small", server_default="small"),
    Column("silent", Boolean, nullable=False, default=False, server_default=text("false")),
    Column("quiet_start", Integer),
    Column("quiet_end", Integer),
    Column("chosen_language", String(16)),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    belongs_to("chat_id", "chats", BigInteger, primary_key=True),
    # The forum topic (`message_thread_id`) the subscription pushes into; 0: the chat itself.
    Column("thread_id", Integer, primary_key=True, server_default="0"),
    Column("topic", String(400), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    belongs_to("chat_id", "chats", BigInteger, nullable=False),
    belongs_to("story_id", "stories", nullable=False),
    # The forum topic the story goes to (0: the chat itself): a story is owed once per topic.
    Column("thread_id", Integer, nullable=False, server_default="0"),
    # The chat's topics the story matched.
    Column("topics", TextList("\n"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("message_id", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    # A pushed card names the other outlets of its cluster ("Also: BBC, DW +3"): the names it
    # shows (NULL for a digest, which is never edited), when it is due for an edit because its
    # cluster grew, and when it was last edited.
    Column("shown_sources", TextList("\n")),
    Column("edit_due_at", UTCDateTime),
    Column("edited_at", UTCDateTime),
    # Held back by the chat's quiet hours (pending, due when they end): sent as one digest.
    Column("held", Boolean, nullable=False, default=False, server_default=text("false")),
    UniqueConstraint("chat_id", "thread_id", "story_id", name="uq_deliveries_chat_story"),
    Index("ix_deliveries_state", "state", "id"),
    Index("ix_deliveries_chat_state", "chat_id", "state"),
    Index("ix_deliveries_story", "story_id"),
    # Partial (edit_due_at IS NOT NULL) in the database, as migration 0007 makes it; named
    # here without its condition, whose dialect arguments would load the PostgreSQL dialect
    # into every command, SQLite ones included.
    Index("ix_deliveries_edit_due", "edit_due_at"),
)

# Small facts about the database as a whole, by key (e.g. the sources file synced last).
bot_state = Table(
    "bot_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
