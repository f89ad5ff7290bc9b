"""message branches: each message names the one it follows, and a conversation its current
message, so that an edited question or a regenerated answer starts a branch and the earlier
one stays reachable

Revision ID: 0004
Revises: 0003

The messages already stored become one branch per conversation, in the order they were written.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(40), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("current_message_id", sa.String(40), nullable=False, server_default=""))
    messages = sa.table("messages", sa.column("id"), sa.column("conversation_id"), sa.column("parent_id"), sa.column("created_at"))
    conversations = sa.table("conversations", sa.column("id"), sa.column("current_message_id"))
    bind = op.get_bind()
    rows = bind.execute(sa.select(messages.c.conversation_id, messages.c.id).order_by(
        messages.c.conversation_id, messages.c.created_at, messages.c.id))
    previous: tuple[str, str] | None = None
    links, last = [], {}
    for conversation_id, message_id in rows:
        if previous is not None and previous[0] == conversation_id:
            links.append({"m": message_id, "p": previous[1]})
        last[conversation_id] = message_id
        previous = (conversation_id, message_id)
    if links:
        bind.execute(messages.update().where(messages.c.id == sa.bindparam("m")).values(parent_id=sa.bindparam("p")), links)
    if last:
        bind.execute(conversations.update().where(conversations.c.id == sa.bindparam("c")).values(current_message_id=sa.bindparam("m")),
                     [{"c": c, "m": m} for c, m in last.items()])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("current_message_id")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("parent_id")
