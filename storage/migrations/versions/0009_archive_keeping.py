"""Keeping the archive: sources are disabled (with a reason), never deleted by a sync; a
per-source story counter; when a chat became inactive; which sources file was synced last.

- `sources.disabled_reason`: why a source is not polled ("unlisted": it left the sources file,
  "removed": an admin removed it, "gone": the feed answered 410). Sources disabled before this
  revision were disabled for a 410.
- `source_counts`: stories per source, kept by triggers on `stories` (so every way of inserting
  or deleting stories keeps it right), so that /sources never counts the archive. PostgreSQL
  counts once per statement from its transition tables, in source order (two writers lock the
  counters in the same order, so they cannot deadlock); SQLite counts per row.
- `chats.inactive_since`: retention removes chats inactive for longer than its window. Chats
  inactive already start their wait now.
- `bot_state`: small key/value facts about the database, here the sources file synced last.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import add_columns, belongs_to, drop_columns
from storage.tables import UTCDateTime

revision = "0009"
down_revision = "0007"

_PG_COUNT = """
CREATE FUNCTION source_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO source_counts (source_id, stories)
    SELECT source_id, {sign}count(*) FROM {table} GROUP BY source_id ORDER BY source_id
    ON CONFLICT (source_id) DO UPDATE SET stories = source_counts.stories + excluded.stories;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    add_columns("sources", sa.Column("disabled_reason", sa.String(16)))
    op.execute("UPDATE sources SET disabled_reason = 'gone' WHERE NOT enabled")
    add_columns("chats", sa.Column("inactive_since", UTCDateTime))
    chats = sa.table("chats", sa.column("active", sa.Boolean), sa.column("inactive_since"))
    op.execute(
        chats.update()
        .where(sa.not_(chats.c.active))
        .values(inactive_since=sa.bindparam("since", datetime.now(UTC), type_=UTCDateTime()))
    )
    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "source_counts",
        belongs_to("source_id", "sources", primary_key=True),
        sa.Column("stories", sa.Integer, nullable=False),
    )
    op.execute(
        "INSERT INTO source_counts (source_id, stories) "
        "SELECT source_id, count(*) FROM stories GROUP BY source_id"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_COUNT.format(name="insert", sign="", table="inserted"))
        op.execute(_PG_COUNT.format(name="delete", sign="-", table="deleted"))
        op.execute(
            "CREATE TRIGGER source_counts_insert AFTER INSERT ON stories "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            "EXECUTE FUNCTION source_counts_insert()"
        )
        op.execute(
            "CREATE TRIGGER source_counts_delete AFTER DELETE ON stories "
            "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT "
            "EXECUTE FUNCTION source_counts_delete()"
        )
        return
    op.execute(
        "CREATE TRIGGER source_counts_insert AFTER INSERT ON stories BEGIN "
        "INSERT INTO source_counts (source_id, stories) VALUES (new.source_id, 1) "
        "ON CONFLICT (source_id) DO UPDATE SET stories = stories + 1; END"
    )
    op.execute(
        "CREATE TRIGGER source_counts_delete AFTER DELETE ON stories BEGIN "
        "UPDATE source_counts SET stories = stories - 1 WHERE source_id = old.source_id; END"
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in ("insert", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS source_counts_{name}" + (" ON stories" * postgresql))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS source_counts_{name}()")
    op.drop_table("source_counts")
    op.drop_table("bot_state")
    drop_columns("chats", "inactive_since")
    drop_columns("sources", "disabled_reason")
