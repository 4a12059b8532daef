"""The language a chat's pushes are written in: that of the person who last subscribed it.

`chats.language` is one of the languages the bot speaks ("uk", "de"), set by /subscribe from
the subscriber's Telegram language; NULL (chats from before, or never subscribed) is English.
"""

import sqlalchemy as sa

from storage.migrations.steps import add_columns, drop_columns

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    add_columns("chats", sa.Column("language", sa.String(16)))


def downgrade() -> None:
    drop_columns("chats", "language")
