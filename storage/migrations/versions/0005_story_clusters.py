"""Story clusters: each story's cluster (the id of the story that opened it) and the state of
"Also: …" edits to pushed messages.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import add_columns, drop_columns
from storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    add_columns("stories", sa.Column("cluster_id", sa.Integer))
    op.create_index("ix_stories_cluster", "stories", ["cluster_id"])
    add_columns(
        "deliveries",
        sa.Column("shown_sources", sa.Text),
        sa.Column("edit_due_at", UTCDateTime),
        sa.Column("edited_at", UTCDateTime),
    )
    op.create_index("ix_deliveries_edit_due", "deliveries", ["edit_due_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_edit_due", table_name="deliveries")
    drop_columns("deliveries", "edited_at", "edit_due_at", "shown_sources")
    op.drop_index("ix_stories_cluster", table_name="stories")
    drop_columns("stories", "cluster_id")
