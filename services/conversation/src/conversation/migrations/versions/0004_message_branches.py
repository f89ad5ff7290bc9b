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
    # Set-based, so that a large table is linked by the database, not row by row from here:
    # each message follows the one written before it in its conversation.
    op.execute(
        "UPDATE messages SET parent_id = (SELECT p.id FROM messages p WHERE p.conversation_id = messages.conversation_id "
        "AND (p.created_at < messages.created_at OR (p.created_at = messages.created_at AND p.id < messages.id)) "
        "ORDER BY p.created_at DESC, p.id DESC LIMIT 1)"
    )
    op.execute(
        "UPDATE conversations SET current_message_id = COALESCE((SELECT m.id FROM messages m WHERE m.conversation_id = conversations.id "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT 1), '')"
    )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("current_message_id")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("parent_id")
