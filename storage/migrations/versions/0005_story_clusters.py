"""Story clusters: each story's cluster (the id of the story that opened it) and the state of
"Also: …" edits to pushed messages.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.add_column(sa.Column("cluster_id", sa.Integer))
    op.create_index("ix_stories_cluster", "stories", ["cluster_id"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("shown_sources", sa.Text))
        batch.add_column(sa.Column("edit_due_at", UTCDateTime))
        batch.add_column(sa.Column("edited_at", UTCDateTime))
    op.create_index("ix_deliveries_edit_due", "deliveries", ["edit_due_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_edit_due", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("edited_at")
        batch.drop_column("edit_due_at")
        batch.drop_column("shown_sources")
    op.drop_index("ix_stories_cluster", table_name="stories")
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("cluster_id")
