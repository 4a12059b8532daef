"""Delivery engine: retry times on outbox rows; chats can pause, take a daily digest, migrate.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("next_attempt_at", UTCDateTime))
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("digest_time", sa.String(5)))
        batch.add_column(sa.Column("timezone", sa.String(64)))
    op.create_index("ix_deliveries_chat_state", "deliveries", ["chat_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_chat_state", table_name="deliveries")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("timezone")
        batch.drop_column("digest_time")
        batch.drop_column("paused")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("next_attempt_at")
