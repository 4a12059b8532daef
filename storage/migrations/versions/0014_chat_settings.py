"""Per-chat settings (/settings): link previews, silent pushes, quiet hours and a chosen language;
and outbox rows held back by quiet hours.

`chats.chosen_language` is apart from `chats.language`, which /subscribe keeps overwriting with
the subscriber's language: a language chosen in /settings must outlive the next /subscribe.
Quiet hours are minutes after midnight in the chat's time zone. `deliveries.held` marks rows
held back by quiet hours, which go out as one digest when they end.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa

from storage.migrations.steps import add_columns, drop_columns

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns(
        "chats",
        sa.Column("preview", sa.String(8), nullable=False, server_default="small"),
        sa.Column("silent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("quiet_start", sa.Integer),
        sa.Column("quiet_end", sa.Integer),
        sa.Column("chosen_language", sa.String(16)),
    )
    add_columns(
        "deliveries", sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    drop_columns("deliveries", "held")
    drop_columns("chats", "preview", "silent", "quiet_start", "quiet_end", "chosen_language")
