"""Stories keep their text beyond the summary (up to 2,000 characters) for the story card."""

import sqlalchemy as sa

from storage.migrations.steps import add_columns, drop_columns

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    add_columns("stories", sa.Column("body", sa.Text))


def downgrade() -> None:
    drop_columns("stories", "body")
