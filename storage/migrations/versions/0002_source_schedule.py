"""Sources learn a schedule: adaptive poll intervals, when the last error happened, due index.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("poll_interval", sa.Integer))
        batch.add_column(sa.Column("target_interval", sa.Integer))
        batch.add_column(sa.Column("last_error_at", UTCDateTime))
    op.create_index("ix_sources_due", "sources", ["enabled", "next_poll_at"])


def downgrade() -> None:
    op.drop_index("ix_sources_due", table_name="sources")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("last_error_at")
        batch.drop_column("target_interval")
        batch.drop_column("poll_interval")
