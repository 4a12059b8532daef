"""Sources learn a schedule: adaptive poll intervals, when the last error happened, due index."""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import add_columns, drop_columns
from storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    add_columns(
        "sources",
        sa.Column("poll_interval", sa.Integer),
        sa.Column("target_interval", sa.Integer),
        sa.Column("last_error_at", UTCDateTime),
    )
    op.create_index("ix_sources_due", "sources", ["enabled", "next_poll_at"])


def downgrade() -> None:
    op.drop_index("ix_sources_due", table_name="sources")
    drop_columns("sources", "last_error_at", "target_interval", "poll_interval")
