"""Sources remember when their admins were told that they fail for a day, so a restart does not
tell them again; a successful poll clears it (the next failing streak is reported anew).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("failure_reported_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("failure_reported_at")
