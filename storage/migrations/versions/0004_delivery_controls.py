"""Delivery engine: retry times on outbox rows; chats can pause, take a daily digest, migrate."""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import add_columns, drop_columns
from storage.tables import UTCDateTime

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    add_columns("deliveries", sa.Column("next_attempt_at", UTCDateTime))
    add_columns(
        "chats",
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("digest_time", sa.String(5)),
        sa.Column("timezone", sa.String(64)),
    )
    op.create_index("ix_deliveries_chat_state", "deliveries", ["chat_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_chat_state", table_name="deliveries")
    drop_columns("chats", "timezone", "digest_time", "paused")
    drop_columns("deliveries", "next_attempt_at")
