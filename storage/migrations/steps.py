"""Steps that more than one migration takes (`versions/`), written once.

A migration's effect is fixed once it has run anywhere, so a step here never changes: a schema
that needs something else gets a new step.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op


def belongs_to(name: str, parent: str, type_: Any = sa.Integer, **options: Any) -> sa.Column[Any]:
    """A column naming the `parent` row this row belongs to; the row goes when its parent goes."""
    return sa.Column(name, type_, sa.ForeignKey(f"{parent}.id", ondelete="CASCADE"), **options)


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    """Add `columns` to `table` (on SQLite by copying the table, as Alembic's batch mode does)."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Drop the columns `names` from `table`."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)


def add_search_column(expression: str) -> None:
    """PostgreSQL: `stories.search`, a tsvector generated from `expression`, with its GIN index."""
    op.execute(
        f"ALTER TABLE stories ADD COLUMN search tsvector GENERATED ALWAYS AS ({expression}) STORED"
    )
    op.execute("CREATE INDEX ix_stories_search ON stories USING GIN (search)")


def create_fts_by_story_id() -> None:
    """SQLite: the first full-text index (0001), FTS5 over `stories.terms` keyed by story id,
    kept in step by triggers."""
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
