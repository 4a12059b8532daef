"""Topic queries on the full-text index: SQLite FTS5 or PostgreSQL tsvector, same answers.

Both indexes hold the terms `news.topics.analysis` produced, in document order, so neither
database's stemmer is involved: a topic's term sequences are looked up exactly, as phrases (FTS5
`"a b"`, tsquery `a <-> b`). Terms travel as bound parameters, quoted for the query syntax, so
nothing a user types can change the query's structure; the parameters are named, so a
statement built once serves every topic of the same shape (`storage.listing`). A topic's
exclusions in its own language (`Topic.excluded_in_language`) leave out only stories in that
language: SQLite indexes each story's language beside its source (`l<language>`, migration
0017), PostgreSQL tests the column.

Newest-first without reading every match. "Newest 5 stories about ukraine" must not cost more
when there are 100,000 of them:
- SQLite: the FTS5 table is contentless and its rowid is a *time key*, the publication second
  times 2**31 plus the story id (migration 0003). FTS5 walks a match list in rowid order, so
  `ORDER BY rowid DESC LIMIT n` stops after n hits. Stories published within one second are put
  in exact (published_at, id) order by SQL afterwards: the second query takes every match from
  the second of the n-th hit on. The source id is indexed too (`s<id>`), so `source:` filters are
  part of the same walk.
- PostgreSQL: a GIN index on `to_tsvector('simple', terms)` finds matches and the
  (published_at, id) index orders stories; the planner chooses which to drive from its guess of
  how common the terms are. Migration 0003 raises the column's statistics target to 1000, so
  it knows the 10,000 most common terms (not 1,000) and guesses rare terms right; the planner
  then reads a rare term's few matches, and walks the date index for a common one. Two cheaper
  tricks were measured and rejected (bench/bench_latest.py): asking the last day first, then
  8 days, then all time, and keeping the ORDER BY off the date index; both raised the median.
  A rare term's few matches are still spread over the whole archive, each a row to read for its
  date; a partial index of the recent weeks (`storage.recent`) holds a few of them, and
  /latest asks it first (`recent_only`), then the whole archive only when that is too few.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from news.topics import Phrase, Topic
from storage.base import source_name
from storage.tables import sources, stories

#: A story's FTS5 rowid is its publication second (clamped to this range) times KEY_SPAN plus
#: its id. Ids must stay below KEY_SPAN (2**31); seconds from 1970 to 2106 then fit in 63 bits.
KEY_SPAN = 2**31
MAX_SECOND = 2**32 - 1
_MAX_KEY = 2**63 - 1


def _stories_search() -> ColumnElement[Any]:
    """The stories' tsvector column (PostgreSQL only)."""
    # Imported on use: loading the PostgreSQL dialect costs every SQLite command's start-up.
    from sqlalchemy.dialects.postgresql import TSVECTOR

    return literal_column("stories.search", TSVECTOR)


def key_second(published: datetime) -> int:
    """The clamped publication second a time key starts with (same as the SQLite trigger)."""
    return min(max(calendar.timegm(published.utctimetuple()), 0), MAX_SECOND)


def _fts5_phrase(phrase: Phrase) -> str:
    return '"' + " ".join(phrase).replace('"', '""') + '"'


def necessary(phrases: Sequence[Phrase]) -> list[Phrase]:
    """`phrases` without those that hold another of them (a story holding "republic of peru"
    holds "peru"): the same matches, and the index is spared phrases that cost the most.

    A country's topic has its names in six languages, "peru" and "república del perú" among
    them; a phrase of common words whose stories never have them side by side makes the index
    check every story holding all of them, which at 10 million stories took 0.2 s on SQLite
    for a phrase the topic's single word already covers (bench/bench_latest.py)."""
    return sorted(
        phrase
        for phrase in phrases
        if not any(
            other != phrase
            and len(other) < len(phrase)
            and any(
                phrase[start : start + len(other)] == other
                for start in range(len(phrase) - len(other) + 1)
            )
            for other in phrases
        )
    )


def _fts5_any(phrases: Sequence[Phrase]) -> str:
    return "(" + " OR ".join(_fts5_phrase(phrase) for phrase in necessary(phrases)) + ")"


def _words_first(group: Sequence[Phrase]) -> list[Phrase]:
    """A group's single words when it has any, else the group: the part FTS5 walks cheaply."""
    return [phrase for phrase in group if len(phrase) == 1] or list(group)


def fts5_query(
    topic: Topic,
    *,
    sources: Sequence[int] = (),
    excluded_sources: Sequence[int] = (),
    words_only: bool = False,
) -> str:
    """The FTS5 MATCH expression for `topic`, restricted to stories of these source ids.

    An outlet's topic (no required item) is its sources' column filter alone. With
    `words_only`, a required group that has single words keeps only them: a query whose matches
    are a subset of the topic's, without the phrases FTS5 must scan for (see `topic_clause`).
    """
    parts = [
        f"{{terms}} : {_fts5_any(_words_first(list(group)) if words_only else list(group))}"
        for group in topic.required
    ]
    if sources:
        parts.append("{source} : (" + " OR ".join(f'"s{i}"' for i in sorted(sources)) + ")")
    query = " AND ".join(parts)
    exclusions = [f"{{terms}} : {_fts5_any(list(topic.excluded))}"] if topic.excluded else []
    if topic.excluded_in_language and topic.language:
        exclusions.append(
            f"({{terms}} : {_fts5_any(list(topic.excluded_in_language))} AND "
            f"{{source}} : {_fts5_phrase(('l' + topic.language,))})"
        )
    if excluded_sources:
        exclusions.append(
            "{source} : (" + " OR ".join(f'"s{i}"' for i in sorted(excluded_sources)) + ")"
        )
    if exclusions:
        query = f"({query}) NOT (" + " OR ".join(exclusions) + ")"
    return query


def _lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsquery_any(phrases: Sequence[Phrase]) -> str:
    return (
        "("
        + " | ".join(
            "(" + " <-> ".join(_lexeme(term) for term in phrase) + ")"
            for phrase in necessary(phrases)
        )
        + ")"
    )


def _in_language_exclusion(topic: Topic) -> ColumnElement[bool]:
    """PostgreSQL: true for a story in the topic's language holding one of its exclusions in
    that language."""
    if not (topic.excluded_in_language and topic.language):
        return false()
    language = topic.language
    return and_(
        or_(
            stories.c.language == bindparam("topic_language", language),
            stories.c.language.like(bindparam("topic_language_like", language + "-%")),
        ),
        _stories_search().op("@@")(
            func.to_tsquery(
                literal_column("'simple'"),
                bindparam("in_language", _tsquery_any(list(topic.excluded_in_language))),
            )
        ),
    )


def tsquery(topic: Topic) -> str:
    """The PostgreSQL tsquery text for `topic` (for `to_tsquery('simple', …)`)."""
    query = " & ".join(_tsquery_any(list(group)) for group in topic.required)
    if topic.excluded:
        query += " & !" + _tsquery_any(list(topic.excluded))
    return query


async def topic_sources(conn: AsyncConnection, topic: Topic) -> tuple[list[int], list[int]]:
    """The ids of the sources `topic`'s `source:` filters keep, and of those it leaves out."""
    if not topic.sources and not topic.excluded_sources:
        return [], []
    rows = (await conn.execute(select(sources.c.id, sources.c.title, sources.c.url))).all()
    kept, dropped = [], []
    for row in rows:
        name = source_name(row.title, row.url)
        if topic.refuses_source(name):
            dropped.append(row.id)
        elif topic.names_source(name):
            kept.append(row.id)
    return kept, dropped


def recent_only(query: Any, bound: Any) -> Any:
    """`query` kept to the stories published from `bound` on (PostgreSQL, with
    `storage.recent`'s index starting at `bound`): the database can then read a term's matches
    in that index. Its caller asks the whole archive after it only when it finds too few."""
    return query.where(stories.c.published_at >= bound)


def newest_first(dialect: str, topic: Topic | None) -> tuple[ColumnElement[Any], ...]:
    """ORDER BY for /latest: (published_at, id), newest first.

    On SQLite with a topic, the `+` keeps the planner from walking the published_at index
    backwards and testing each story against the match list, which reads the whole table when
    the matches are few and old; the match list is short by construction (see `topic_clause`).
    """
    if dialect == "sqlite" and topic is not None:
        return literal_column("+stories.published_at").desc(), stories.c.id.desc()
    return stories.c.published_at.desc(), stories.c.id.desc()


def topic_clause(
    dialect: str,
    topic: Topic,
    *,
    limit: int,
    before: tuple[datetime, int] | None,
    sources: Sequence[int] = (),
    excluded_sources: Sequence[int] = (),
) -> ColumnElement[bool]:
    """A WHERE clause on `stories` that keeps the newest stories matching `topic`.

    On SQLite it keeps a superset of the `limit` newest matches older than `before` and no
    others that could be among them; the caller's ORDER BY and LIMIT finish the job.
    `sources` and `excluded_sources` are the ids `topic_sources` found.
    """
    if topic.sources and not sources:
        return false()
    if dialect == "postgresql":
        clause: ColumnElement[bool]
        if topic.is_outlet:
            # No terms to look up: the sources' stories, newest first by the date index, less
            # those holding an excluded term.
            clause = true()
            if topic.excluded:
                left_out = "!" + _tsquery_any(list(topic.excluded))
                clause = _stories_search().op("@@")(
                    func.to_tsquery(literal_column("'simple'"), bindparam("left_out", left_out))
                )
        else:
            clause = _stories_search().op("@@")(
                func.to_tsquery(literal_column("'simple'"), bindparam("tsquery", tsquery(topic)))
            )
        if topic.excluded_in_language:
            clause = and_(clause, not_(_in_language_exclusion(topic)))
        if sources:
            clause = and_(
                clause,
                stories.c.source_id.in_(bindparam("kept_sources", list(sources), expanding=True)),
            )
        if excluded_sources:
            dropped: Any = bindparam("dropped_sources", list(excluded_sources), expanding=True)
            clause = and_(clause, stories.c.source_id.not_in(dropped))
        return clause
    match = fts5_query(topic, sources=sources, excluded_sources=excluded_sources)
    quick = fts5_query(topic, sources=sources, excluded_sources=excluded_sources, words_only=True)
    if before is None:
        newest, second_end = _MAX_KEY, _MAX_KEY
    else:
        second = key_second(before[0])
        newest, second_end = second * KEY_SPAN - 1, (second + 1) * KEY_SPAN - 1
    empty_from = second_end - KEY_SPAN + 1 if before is not None else _MAX_KEY
    # The `limit` newest hits in seconds strictly before the cursor's second, then every hit
    # from the start of the oldest one's second up to the end of the cursor's second.
    if quick == match:
        statement = text(
            "stories.id IN (SELECT rowid & :id_mask FROM stories_fts "
            "WHERE stories_fts MATCH :match AND rowid <= :second_end AND rowid >= coalesce(("
            "SELECT min(k) - (min(k) & :id_mask) FROM (SELECT rowid AS k FROM stories_fts "
            "WHERE stories_fts MATCH :match AND rowid <= :newest ORDER BY rowid DESC LIMIT :limit)"
            "), :empty_from))"
        ).bindparams(
            id_mask=KEY_SPAN - 1,
            match=match,
            second_end=second_end,
            newest=newest,
            limit=limit,
            empty_from=empty_from,
        )
        return and_(true(), statement)
    # A phrase among single words: walking newest first, FTS5 reads every story holding the
    # phrase's words until one holds them side by side, whatever the bounds ("maputo", whose
    # group holds "republica de mocambique": 0.6-1.4 s at 10 M). The `limit` newest hits of the
    # single words alone (a subset) bound the window from below when there are that many; the
    # phrases are then read oldest first from that bound, which stops at the newest story.
    statement = text(
        "stories.id IN (SELECT rowid & :id_mask FROM stories_fts "
        "WHERE stories_fts MATCH :match AND rowid <= :second_end AND rowid >= coalesce(("
        "SELECT CASE WHEN count(*) = :limit THEN min(k) - (min(k) & :id_mask) END "
        "FROM (SELECT rowid AS k FROM stories_fts "
        "WHERE stories_fts MATCH :quick AND rowid <= :newest ORDER BY rowid DESC LIMIT :limit)"
        "), ("
        "SELECT min(k) - (min(k) & :id_mask) FROM (SELECT rowid AS k FROM stories_fts "
        "WHERE stories_fts MATCH :match AND rowid <= :newest ORDER BY rowid DESC LIMIT :limit)"
        "), :empty_from))"
    ).bindparams(
        id_mask=KEY_SPAN - 1,
        match=match,
        quick=quick,
        second_end=second_end,
        newest=newest,
        limit=limit,
        empty_from=empty_from,
    )
    return and_(true(), statement)


def matching_since(
    dialect: str,
    topic: Topic,
    since: datetime,
    *,
    sources: Sequence[int] = (),
    excluded_sources: Sequence[int] = (),
) -> ColumnElement[bool]:
    """A WHERE clause on `stories` that keeps the stories matching `topic`, of those published
    since `since` at least (on SQLite it reads only the matches from `since`'s second on, in
    the time-keyed index; the caller narrows to the exact time). Its parameters' names differ
    from `topic_clause`'s, so one statement can hold both."""
    if dialect == "postgresql" or (topic.sources and not sources):
        return topic_clause(
            dialect,
            topic,
            limit=0,
            before=None,
            sources=sources,
            excluded_sources=excluded_sources,
        )
    statement = text(
        "stories.id IN (SELECT rowid & :since_mask FROM stories_fts "
        "WHERE stories_fts MATCH :since_match AND rowid >= :since_oldest)"
    ).bindparams(
        since_mask=KEY_SPAN - 1,
        since_match=fts5_query(topic, sources=sources, excluded_sources=excluded_sources),
        since_oldest=key_second(since) * KEY_SPAN,
    )
    return and_(true(), statement)
