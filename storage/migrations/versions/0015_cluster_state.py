"""Cluster state that persists: open clusters' centroids and clustered stories' signatures.

A start loads them instead of re-analysing the window's stories, and several polling processes
read each other's by `version` (see `storage.tables.clusters`). Clusters assigned before this
migration keep their `stories.cluster_id`; the clusterer starts afresh beside them. Stories
never clustered before (too old when they arrived) are marked as standing alone, as they were
shown: from now on every story is clustered whatever its age, and without this mark a first
start would cluster a whole archive.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import belongs_to
from storage.tables import UTCDateTime

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.create_table(
        "clusters",
        belongs_to("id", "stories", primary_key=True, autoincrement=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("terms", sa.Text, nullable=False),
        sa.Column("weights", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_clusters_started", "clusters", ["started_at"])
    op.create_index("ix_clusters_version", "clusters", ["version"])
    op.create_table(
        "cluster_stories",
        belongs_to("story_id", "stories", primary_key=True),
        sa.Column("cluster_id", sa.Integer, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("terms", sa.Text, nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_cluster_stories_published", "cluster_stories", ["published_at"])
    op.create_index("ix_cluster_stories_version", "cluster_stories", ["version", "seq"])
    op.execute("UPDATE stories SET cluster_id = id WHERE cluster_id IS NULL")


def downgrade() -> None:
    op.drop_table("cluster_stories")
    op.drop_table("clusters")
