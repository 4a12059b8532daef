"""Indexes for the "Also:" edits: deliveries by story (a cluster's cards) and the cards due."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_index("ix_deliveries_story", "deliveries", ["story_id"])
    # Almost every row has no edit due: index only those that do.
    op.drop_index("ix_deliveries_edit_due", table_name="deliveries")
    op.create_index(
        "ix_deliveries_edit_due",
        "deliveries",
        ["edit_due_at"],
        sqlite_where=sa.text("edit_due_at IS NOT NULL"),
        postgresql_where=sa.text("edit_due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_edit_due", table_name="deliveries")
    op.create_index("ix_deliveries_edit_due", "deliveries", ["edit_due_at"])
    op.drop_index("ix_deliveries_story", table_name="deliveries")
