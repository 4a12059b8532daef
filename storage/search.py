"""Topic queries on the full-text index: SQLite FTS5 or PostgreSQL tsvector, same answers.

Both indexes hold the terms `news.analysis` produced, so neither database's own tokenizer or
stemmer is involved: a topic's terms are looked up exactly. Terms travel as bound parameters,
quoted for the query syntax, so nothing a user types can change the query's structure.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, cast, column, literal_column, select, table
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR

from news.topics import Topic
from storage.tables import stories

# Created by the migrations outside `storage.tables`, because they differ by dialect.
_stories_fts = table("stories_fts", column("rowid"), column("terms"))
_stories_search = literal_column("stories.search", TSVECTOR)


def _fts5_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _tsquery_lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def fts5_query(topic: Topic) -> str:
    """The FTS5 MATCH expression for `topic`: every word, each through any of its terms."""
    return " AND ".join(
        "(" + " OR ".join(_fts5_string(term) for term in sorted(group)) + ")"
        for group in topic.required
    )


def tsquery(topic: Topic) -> str:
    """The PostgreSQL tsquery text for `topic`, the same logic as `fts5_query`."""
    return " & ".join(
        "(" + " | ".join(_tsquery_lexeme(term) for term in sorted(group)) + ")"
        for group in topic.required
    )


def topic_clause(dialect: str, topic: Topic) -> ColumnElement[bool]:
    """A WHERE clause on `stories` that keeps the stories matching `topic`."""
    if dialect == "postgresql":
        return _stories_search.op("@@")(cast(tsquery(topic), TSQUERY))
    matching_ids = select(_stories_fts.c.rowid).where(
        _stories_fts.c.terms.op("MATCH")(fts5_query(topic))
    )
    return stories.c.id.in_(matching_ids)
