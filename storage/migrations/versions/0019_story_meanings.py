"""Stories keep their meaning: a sentence embedding of headline and lead, packed to bytes, that
compares across languages (issue 23, `news.meaning`).

A side table keyed by story, like `articles` (0018): adding a column to `stories` copies the
whole archive on SQLite, and stories stored before this revision get their meaning later, in
bounded batches. The row goes with its story (ON DELETE CASCADE), so retention prunes it
without knowing of it.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import belongs_to

revision = "0019"
down_revision = "0018"


def upgrade() -> None:
    op.create_table(
        "story_meanings",
        belongs_to("story_id", "stories", primary_key=True, autoincrement=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("story_meanings")
