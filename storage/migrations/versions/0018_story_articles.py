"""Stories keep their article: the text of the page a teaser links to, its key points, and
where reading it stands (issue 22).

A side table keyed by story, not columns of `stories`: only the teasers of pushed stories and
the cards readers open have a row, and on SQLite adding columns copies the whole archive. The
row goes with its story (ON DELETE CASCADE), so retention prunes it without knowing of it.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import belongs_to
from storage.tables import UTCDateTime

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    op.create_table(
        "articles",
        belongs_to("story_id", "stories", primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("key_points", sa.Text),
        sa.Column("kind", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("wanted_at", UTCDateTime, nullable=False),
        sa.Column("read_at", UTCDateTime),
        sa.Column("retry_at", UTCDateTime),
    )
    op.create_index("ix_articles_due", "articles", ["state", "retry_at"])


def downgrade() -> None:
    op.drop_table("articles")
