"""Stories keep their picture: the image URL their feed names (`news.feeds.images`), for
previews."""

import sqlalchemy as sa

from storage.migrations.steps import add_columns, drop_columns

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    add_columns("stories", sa.Column("image_url", sa.String(2048)))


def downgrade() -> None:
    drop_columns("stories", "image_url")
