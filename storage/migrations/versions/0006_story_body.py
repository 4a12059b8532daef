"""Stories keep their text beyond the summary (up to 2,000 characters) for the story card.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.add_column(sa.Column("body", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("body")
