"""PostgreSQL: a full-text index whose entries carry each story's month (issue 24).

The GIN index of `stories.search` finds a word's matches but knows nothing of their dates, so
"the newest 6 stories holding a rare word" read every match's row to sort them: at 10 million
stories a word in 0.01 % of them read some 1,100 table pages. This index holds the same terms
plus one made-up term per story, its month (`~m<year*12+month>`, a term no text can produce:
`news.topics` terms have no `~`). Asking for "word AND this month", newest month first, reads
only the matches of the months it needs (`storage.search`, `storage.listing`).

`newsbot_month_number` is the month of a time in UTC; `newsbot_month` its term as a tsvector,
`newsbot_month_query` the same as a tsquery. All three are immutable (months in UTC do not
depend on the session's time zone), as an index expression must be. SQLite: nothing (FTS5's
time-keyed rowids already walk matches newest first).
"""

from alembic import op

revision = "0021"
down_revision = "0020"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION newsbot_month_number(at timestamptz) RETURNS integer "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT "
        "(extract(year FROM at AT TIME ZONE 'UTC') * 12 "
        "+ extract(month FROM at AT TIME ZONE 'UTC') - 1)::integer $$"
    )
    op.execute(
        "CREATE FUNCTION newsbot_month(at timestamptz) RETURNS tsvector "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT "
        "array_to_tsvector(ARRAY['~m' || newsbot_month_number(at)::text]) $$"
    )
    op.execute(
        "CREATE FUNCTION newsbot_month_query(month integer) RETURNS tsquery "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT "
        "quote_literal('~m' || month::text)::tsquery $$"
    )
    op.execute(
        "CREATE INDEX ix_stories_search_month ON stories "
        "USING gin ((search || newsbot_month(published_at)))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_stories_search_month")
    op.execute("DROP FUNCTION newsbot_month_query(integer)")
    op.execute("DROP FUNCTION newsbot_month(timestamptz)")
    op.execute("DROP FUNCTION newsbot_month_number(timestamptz)")
