"""Initial schema: sources, stories with full-text search, chats, subscriptions, deliveries.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


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
        sa.Column(
            "source_id",
            sa.Integer,
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
        ),
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
        sa.Column(
            "chat_id",
            sa.BigInteger,
            sa.ForeignKey("chats.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("topic", sa.String(400), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "chat_id",
            sa.BigInteger,
            sa.ForeignKey("chats.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "story_id",
            sa.Integer,
            sa.ForeignKey("stories.id", ondelete="CASCADE"),
            nullable=False,
        ),
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
        # Terms are already analysed by news.analysis, so they become lexemes as they are,
        # without PostgreSQL's own parser: both backends then index exactly the same terms.
        op.execute(
            "ALTER TABLE stories ADD COLUMN search tsvector GENERATED ALWAYS AS "
            "(array_to_tsvector(string_to_array(terms, ' '))) STORED"
        )
        op.execute("CREATE INDEX ix_stories_search ON stories USING GIN (search)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE stories_fts USING fts5(terms, content='stories', "
            "content_rowid='id', tokenize='unicode61 remove_diacritics 0')"
        )
        op.execute(
            "CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN "
            "INSERT INTO stories_fts(rowid, terms) VALUES (new.id, new.terms); END"
        )
        op.execute(
            "CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN "
            "INSERT INTO stories_fts(stories_fts, rowid, terms) "
            "VALUES ('delete', old.id, old.terms); END"
        )
        op.execute(
            "CREATE TRIGGER stories_fts_update AFTER UPDATE OF terms ON stories BEGIN "
            "INSERT INTO stories_fts(stories_fts, rowid, terms) "
            "VALUES ('delete', old.id, old.terms); "
            "INSERT INTO stories_fts(rowid, terms) VALUES (new.id, new.terms); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS stories_fts")
    for table in ("deliveries", "subscriptions", "chats", "stories", "sources"):
        op.drop_table(table)
