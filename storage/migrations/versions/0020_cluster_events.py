"""Events across languages (issue 23): a cluster may report the event of a cluster of another
language (`event_id`), and an event's first cluster keeps the event's meaning (`meaning`), so
that a start links the window's new reports as the process that ran before did.

Both nullable: existing clusters report their own event and keep no meaning. On SQLite adding a
nullable column rewrites nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"


def upgrade() -> None:
    op.add_column("clusters", sa.Column("event_id", sa.Integer))
    op.add_column("clusters", sa.Column("meaning", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("meaning")
        batch.drop_column("event_id")
