"""Forum topics: a subscription and a delivery belong to a chat and one of its topics.

`thread_id` is the forum topic's `message_thread_id`; 0 is the chat itself (a private chat, a
group, a channel, or the General topic of a forum). It joins the keys: a chat follows a topic of
news once per forum topic, and a story is owed once per chat and forum topic.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.steps import belongs_to
from storage.tables import UTCDateTime

revision = "0012"
down_revision = "0011"


def _thread_column() -> sa.Column[int]:
    return sa.Column("thread_id", sa.Integer, nullable=False, server_default="0")


def _key_subscriptions(key: list[str]) -> None:
    """Give `subscriptions` the primary key `key` (with `thread_id` in it or not).

    PostgreSQL alters the constraint in place. SQLite cannot, and Alembic's batch copy warns
    when the key changes, so the table is copied by hand: the same columns under the new key.
    """
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("subscriptions_pkey", "subscriptions", type_="primary")
        op.create_primary_key("subscriptions_pkey", "subscriptions", key)
        return
    threads = "thread_id" in key
    columns = [
        belongs_to("chat_id", "chats", sa.BigInteger, nullable=False),
        *([_thread_column()] if threads else []),
        sa.Column("topic", sa.String(400), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    ]
    op.create_table(
        "subscriptions_new", *columns, sa.PrimaryKeyConstraint(*key, name="subscriptions_pkey")
    )
    names = ", ".join(column.name for column in columns)
    op.execute(f"INSERT INTO subscriptions_new ({names}) SELECT {names} FROM subscriptions")
    op.drop_table("subscriptions")
    op.rename_table("subscriptions_new", "subscriptions")


def upgrade() -> None:
    op.add_column("subscriptions", _thread_column())
    _key_subscriptions(["chat_id", "thread_id", "topic"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(_thread_column())
        batch.drop_constraint("uq_deliveries_chat_story", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_chat_story", ["chat_id", "thread_id", "story_id"]
        )


def downgrade() -> None:
    # Topics' subscriptions and rows cannot fold into the chat's without clashing: they go.
    op.execute("DELETE FROM subscriptions WHERE thread_id <> 0")
    op.execute("DELETE FROM deliveries WHERE thread_id <> 0")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_chat_story", type_="unique")
        batch.create_unique_constraint("uq_deliveries_chat_story", ["chat_id", "story_id"])
        batch.drop_column("thread_id")
    _key_subscriptions(["chat_id", "topic"])  # on SQLite the copy leaves `thread_id` out
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("subscriptions", "thread_id")
