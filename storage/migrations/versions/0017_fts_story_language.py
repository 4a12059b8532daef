"""SQLite: the full-text index knows each story's language, beside its source (`l<language>`).

A topic's exclusions in its own language (`Topic.excluded_in_language`: Spanish `-deportes`
stemmed "deport") leave out only stories in that language, which FTS5 can tell only if the
language is indexed: the `source` column now holds "s<source id> l<language>" ("s3 les"), and
the index is filled again from `stories`. PostgreSQL reads `stories.language` itself: nothing
changes there.
"""

from alembic import op

revision = "0017"
down_revision = "0016"

# The time key of a story row, as in migration 0003 (`storage.search.key_second`).
_KEY = (
    "(max(0, min(4294967295, CAST(strftime('%s', {row}.published_at) AS INTEGER)))"
    " * 2147483648 + {row}.id)"
)


def _index(source: str) -> None:
    """Recreate `stories_fts` and its triggers with `source` (SQL over a row `{row}`) as the
    source column, and fill it from `stories`."""
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS stories_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS stories_fts")
    op.execute(
        "CREATE VIRTUAL TABLE stories_fts USING fts5(terms, source, content='', "
        "tokenize='unicode61 remove_diacritics 0')"
    )
    new_key, old_key = _KEY.format(row="new"), _KEY.format(row="old")
    new_source, old_source = source.format(row="new"), source.format(row="old")
    insert = (
        "INSERT INTO stories_fts(rowid, terms, source) "
        f"VALUES ({new_key}, new.terms, {new_source});"
    )
    delete = (
        "INSERT INTO stories_fts(stories_fts, rowid, terms, source) "
        f"VALUES ('delete', {old_key}, old.terms, {old_source});"
    )
    columns = "terms, published_at, source_id" + (", language" if "language" in source else "")
    op.execute(f"CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN {delete} END")
    op.execute(
        f"CREATE TRIGGER stories_fts_update AFTER UPDATE OF {columns} "
        f"ON stories BEGIN {delete} {insert} END"
    )
    op.execute(
        "INSERT INTO stories_fts(rowid, terms, source) "
        f"SELECT {_KEY.format(row='stories')}, terms, {source.format(row='stories')} FROM stories"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _index("'s' || {row}.source_id || ' l' || {row}.language")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _index("'s' || {row}.source_id")
