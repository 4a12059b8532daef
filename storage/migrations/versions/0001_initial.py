"""Initial schema: sources, stories with full-text search, chats, subscriptions, deliveries."""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import add_search_column, belongs_to, create_fts_by_story_id
from storage.tables import UTCDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False, unique=True),
        sa.Column("title", sa.String(500)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("etag", sa.String(500)),
        sa.Column("last_modified", sa.String(100)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("last_polled_at", UTCDateTime),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_kind", sa.String(50)),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("next_poll_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer, primary_key=True),
        belongs_to("source_id", "sources", nullable=False),
        sa.Column("entry_id", sa.String(1000), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("link", sa.String(2048), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("terms", sa.Text, nullable=False),
        sa.UniqueConstraint("source_id", "entry_id", name="uq_stories_source_entry"),
    )
    op.create_index("ix_stories_link", "stories", ["link"])
    op.create_index("ix_stories_published", "stories", ["published_at", "id"])
    op.create_table(
        "chats",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(300)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "subscriptions",
        belongs_to("chat_id", "chats", sa.BigInteger, primary_key=True),
        sa.Column("topic", sa.String(400), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        belongs_to("chat_id", "chats", sa.BigInteger, nullable=False),
        belongs_to("story_id", "stories", nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("message_id", sa.BigInteger),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("chat_id", "story_id", name="uq_deliveries_chat_story"),
    )
    op.create_index("ix_deliveries_state", "deliveries", ["state", "id"])

    if op.get_bind().dialect.name == "postgresql":
        # Terms are already analysed by news.topics.analysis, so they become lexemes as they are,
        # without PostgreSQL's own parser: both backends then index exactly the same terms.
        add_search_column("array_to_tsvector(string_to_array(terms, ' '))")
    else:
        create_fts_by_story_id()


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS stories_fts")
    for table in ("deliveries", "subscriptions", "chats", "stories", "sources"):
        op.drop_table(table)
