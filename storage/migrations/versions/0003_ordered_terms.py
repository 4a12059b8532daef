"""Full-text search with phrases and newest-first walks: ordered terms, new indexes.

`stories.terms` becomes the story's terms in document order (it was their sorted set), so that
phrases can be found; existing stories are re-analysed from their headline and summary with the
current `news.topics.analysis`.
- SQLite: `stories_fts` becomes a contentless FTS5 table whose rowid is a time key (publication
  second * 2**31 + id, see `storage.search`) with two columns, the terms and the source as
  `s<id>`; triggers keep it in step.
- PostgreSQL: the generated `search` column becomes `to_tsvector('simple', terms)`, which keeps
  positions (the 'simple' configuration only lower-cases, and the terms are lower-case already).
"""

import sqlalchemy as sa
from alembic import op

from news.topics import document_terms
from storage.migrations.steps import add_search_column, create_fts_by_story_id

revision = "0003"
down_revision = "0002"

# The time key of a story row in SQLite, as `storage.search.key_second` computes it in Python.
_KEY = (
    "(max(0, min(4294967295, CAST(strftime('%s', {row}.published_at) AS INTEGER)))"
    " * 2147483648 + {row}.id)"
)


def _reanalyse() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, title, summary, language FROM stories")).all()
    updates = [
        {
            "id": row.id,
            "terms": " ".join(document_terms(f"{row.title} {row.summary}", row.language)),
        }
        for row in rows
    ]
    if updates:
        bind.execute(sa.text("UPDATE stories SET terms = :terms WHERE id = :id"), updates)


def _drop_fts() -> None:
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS stories_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS stories_fts")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_stories_search")
        op.execute("ALTER TABLE stories DROP COLUMN search")
        _reanalyse()
        add_search_column("to_tsvector('simple'::regconfig, terms)")
        # Track the 10,000 most common terms, not 1,000, so that the planner tells rare terms
        # from common ones: that decides whether it reads the matches or walks by date.
        op.execute("ALTER TABLE stories ALTER COLUMN search SET STATISTICS 1000")
        return
    _drop_fts()
    _reanalyse()
    op.execute(
        "CREATE VIRTUAL TABLE stories_fts USING fts5(terms, source, content='', "
        "tokenize='unicode61 remove_diacritics 0')"
    )
    new_key, old_key = _KEY.format(row="new"), _KEY.format(row="old")
    insert = (
        "INSERT INTO stories_fts(rowid, terms, source) "
        f"VALUES ({new_key}, new.terms, 's' || new.source_id);"
    )
    delete = (
        "INSERT INTO stories_fts(stories_fts, rowid, terms, source) "
        f"VALUES ('delete', {old_key}, old.terms, 's' || old.source_id);"
    )
    op.execute(f"CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN {delete} END")
    op.execute(
        "CREATE TRIGGER stories_fts_update AFTER UPDATE OF terms, published_at, source_id "
        f"ON stories BEGIN {delete} {insert} END"
    )
    op.execute(
        "INSERT INTO stories_fts(rowid, terms, source) "
        f"SELECT {_KEY.format(row='stories')}, terms, 's' || source_id FROM stories"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_stories_search")
        op.execute("ALTER TABLE stories DROP COLUMN search")
        add_search_column("array_to_tsvector(string_to_array(terms, ' '))")
        return
    _drop_fts()
    create_fts_by_story_id()
    op.execute("INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')")
