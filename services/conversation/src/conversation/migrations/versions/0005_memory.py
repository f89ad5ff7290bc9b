"""memory: a running summary per conversation, pin and archive, where a title comes from, and
user memory (facts, each user's opt-in, each tenant's policy)

Revision ID: 0005
Revises: 0004

Existing conversations keep their titles as the person's (title_source `user`), so no title
that exists today is ever replaced by a generated one.
"""
import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("title_source", sa.String(16), nullable=False, server_default="user"))
        batch.add_column(sa.Column("summary", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("summary_through_id", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("summary_messages", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("summary_model", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("summary_updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "memory_facts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False, server_default="api"),
        sa.Column("conversation_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_memory_facts_user_created", "memory_facts", ["user_id", "created_at"])
    op.create_table(
        "memory_settings",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "tenant_memory_policies",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("user_memory_allowed", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_memory_policies")
    op.drop_table("memory_settings")
    op.drop_index("ix_memory_facts_user_created", "memory_facts")
    op.drop_table("memory_facts")
    with op.batch_alter_table("conversations") as batch:
        for column in ("archived_at", "pinned_at", "summary_updated_at", "summary_model", "summary_messages", "summary_through_id",
                       "summary", "title_source"):
            batch.drop_column(column)
