"""The language a chat's pushes are written in: that of the person who last subscribed it.

`chats.language` is one of the languages the bot speaks ("uk", "de"), set by /subscribe from
the subscriber's Telegram language; NULL (chats from before, or never subscribed) is English.

Revision ID: 0011
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("language", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("language")
