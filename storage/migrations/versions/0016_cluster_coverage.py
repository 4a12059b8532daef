"""Each event's outlets, kept as the event changes, so that listing an event never loads it.

- `cluster_coverage`: one row per (cluster, source) with the source's number of reports in the
  cluster and its first report (id and publication time), kept by triggers on `stories` (an
  insert with a cluster, a change of `cluster_id`, a delete), so that every write keeps it
  right: the clusterer's assignments, merges and splits (`storage.clusters`), retention's
  deletes, a source's removal. The outlets a list entry names and the first reports a story
  card shows are read from it (`storage.coverage`). Filled from the stories already clustered.
- `cluster_outlets`: each cluster's number of outlets ("+N sources"), kept by triggers on
  `cluster_coverage` as its rows come and go, so that counting never reads an event's outlets.
- `ix_stories_cluster` gains (published_at, id): "has this event a report newer than the page's
  cursor" and "the source's next first report" walk one cluster in time order.

An outlet's first report is recomputed only when that report leaves the cluster while the
outlet has others in it; its row goes with its last report.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import belongs_to
from storage.tables import UTCDateTime

revision = "0016"
down_revision = "0015"

_KEY = "cluster_id = {row}.cluster_id AND source_id = {row}.source_id"
_OTHER_REPORTS = "SELECT {column} FROM stories WHERE " + _KEY + " ORDER BY published_at, id LIMIT 1"
_EARLIER = (
    "excluded.first_published_at < cluster_coverage.first_published_at OR "
    "(excluded.first_published_at = cluster_coverage.first_published_at "
    "AND excluded.first_id < cluster_coverage.first_id)"
)
_ADD = (
    "INSERT INTO cluster_coverage (cluster_id, source_id, reports, first_id, first_published_at) "
    "SELECT {row}.cluster_id, {row}.source_id, 1, {row}.id, {row}.published_at "
    # The WHERE also tells SQLite's parser that ON CONFLICT is the upsert's.
    "WHERE {row}.cluster_id IS NOT NULL "
    "ON CONFLICT (cluster_id, source_id) DO UPDATE SET "
    "reports = cluster_coverage.reports + 1, "
    f"first_id = CASE WHEN {_EARLIER} THEN excluded.first_id "
    "ELSE cluster_coverage.first_id END, "
    f"first_published_at = CASE WHEN {_EARLIER} THEN excluded.first_published_at "
    "ELSE cluster_coverage.first_published_at END;"
)
# Several reports may leave in one statement: on PostgreSQL every row's trigger runs after the
# statement, so an outlet whose reports all left is removed at its first report's trigger.
_REMOVE = (
    "UPDATE cluster_coverage SET reports = reports - 1 WHERE " + _KEY + "; "
    "DELETE FROM cluster_coverage WHERE " + _KEY + " AND (reports <= 0 OR (first_id = {row}.id "
    "AND NOT EXISTS (SELECT 1 FROM stories WHERE " + _KEY + "))); "
    "UPDATE cluster_coverage SET "
    "first_id = (" + _OTHER_REPORTS.replace("{column}", "id") + "), "
    "first_published_at = (" + _OTHER_REPORTS.replace("{column}", "published_at") + ") "
    "WHERE " + _KEY + " AND first_id = {row}.id;"
)

_PG_FUNCTION = f"""
CREATE FUNCTION cluster_coverage_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.cluster_id IS NOT DISTINCT FROM NEW.cluster_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.cluster_id IS NOT NULL THEN
        {_REMOVE.format(row="OLD")}
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.cluster_id IS NOT NULL THEN
        {_ADD.format(row="NEW")}
    END IF;
    RETURN NULL;
END $$
"""

# Each cluster's number of outlets, kept as its coverage rows come and go.
_COUNT_ADD = (
    "INSERT INTO cluster_outlets (cluster_id, outlets) VALUES ({row}.cluster_id, 1) "
    "ON CONFLICT (cluster_id) DO UPDATE SET outlets = cluster_outlets.outlets + 1;"
)
_COUNT_REMOVE = (
    "UPDATE cluster_outlets SET outlets = outlets - 1 WHERE cluster_id = {row}.cluster_id; "
    "DELETE FROM cluster_outlets WHERE cluster_id = {row}.cluster_id AND outlets <= 0;"
)
_PG_COUNT_FUNCTION = f"""
CREATE FUNCTION cluster_outlets_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_COUNT_ADD.format(row="NEW")}
    ELSE
        {_COUNT_REMOVE.format(row="OLD")}
    END IF;
    RETURN NULL;
END $$
"""

# A NULL cluster matches no row: removing from it or adding to it does nothing.
_SQLITE_TRIGGERS = {
    "insert": "AFTER INSERT ON stories BEGIN " + _ADD.format(row="new") + " END",
    "update": "AFTER UPDATE OF cluster_id ON stories WHEN old.cluster_id IS NOT new.cluster_id "
    f"BEGIN {_REMOVE.format(row='old')} {_ADD.format(row='new')} END",
    "delete": "AFTER DELETE ON stories BEGIN " + _REMOVE.format(row="old") + " END",
}
_SQLITE_COUNT_TRIGGERS = {
    "insert": "AFTER INSERT ON cluster_coverage BEGIN " + _COUNT_ADD.format(row="new") + " END",
    "delete": "AFTER DELETE ON cluster_coverage BEGIN " + _COUNT_REMOVE.format(row="old") + " END",
}


def upgrade() -> None:
    op.create_table(
        "cluster_coverage",
        sa.Column("cluster_id", sa.Integer, primary_key=True, autoincrement=False),
        belongs_to("source_id", "sources", primary_key=True),
        sa.Column("reports", sa.Integer, nullable=False),
        sa.Column("first_id", sa.Integer, nullable=False),
        sa.Column("first_published_at", UTCDateTime, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_cluster_coverage_first",
        "cluster_coverage",
        ["cluster_id", "first_published_at", "first_id"],
    )
    op.create_table(
        "cluster_outlets",
        sa.Column("cluster_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("outlets", sa.Integer, nullable=False),
    )
    op.drop_index("ix_stories_cluster", "stories")
    op.create_index("ix_stories_cluster", "stories", ["cluster_id", "published_at", "id"])
    op.execute(
        "INSERT INTO cluster_coverage "
        "(cluster_id, source_id, reports, first_id, first_published_at) "
        "SELECT cluster_id, source_id, reports, id, published_at FROM ("
        "SELECT cluster_id, source_id, id, published_at, "
        "count(*) OVER (PARTITION BY cluster_id, source_id) AS reports, "
        "row_number() OVER (PARTITION BY cluster_id, source_id ORDER BY published_at, id) AS n "
        "FROM stories WHERE cluster_id IS NOT NULL) AS reported WHERE n = 1"
    )
    op.execute(
        "INSERT INTO cluster_outlets (cluster_id, outlets) "
        "SELECT cluster_id, count(*) FROM cluster_coverage GROUP BY cluster_id"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_COUNT_FUNCTION)
        op.execute(
            "CREATE TRIGGER cluster_outlets_change AFTER INSERT OR DELETE ON cluster_coverage "
            "FOR EACH ROW EXECUTE FUNCTION cluster_outlets_change()"
        )
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER cluster_coverage_change "
            "AFTER INSERT OR DELETE OR UPDATE OF cluster_id ON stories FOR EACH ROW "
            "EXECUTE FUNCTION cluster_coverage_change()"
        )
        return
    for name, body in _SQLITE_COUNT_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER cluster_outlets_{name} {body}")
    for name, body in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER cluster_coverage_{name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS cluster_coverage_change ON stories")
        op.execute("DROP FUNCTION IF EXISTS cluster_coverage_change()")
        op.execute("DROP TRIGGER IF EXISTS cluster_outlets_change ON cluster_coverage")
        op.execute("DROP FUNCTION IF EXISTS cluster_outlets_change()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS cluster_coverage_{name}")
        for name in _SQLITE_COUNT_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS cluster_outlets_{name}")
    op.drop_index("ix_stories_cluster", "stories")
    op.create_index("ix_stories_cluster", "stories", ["cluster_id"])
    op.drop_table("cluster_outlets")
    op.drop_table("cluster_coverage")
