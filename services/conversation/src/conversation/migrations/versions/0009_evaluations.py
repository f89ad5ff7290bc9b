"""online evaluation: each tenant's share of grounded answers judged in the background, and the
judge's scores stored with the message

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_evaluation_policies",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("share", sa.Float(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "message_evaluations",
        sa.Column("message_id", sa.String(40), sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("conversation_id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("user_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("model", sa.String(200), nullable=False, server_default=""),
        sa.Column("provider", sa.String(64), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="done"),
        sa.Column("error", sa.String(200), nullable=False, server_default=""),
        sa.Column("faithfulness", sa.Float(), nullable=True),
        sa.Column("answer_relevance", sa.Float(), nullable=True),
        sa.Column("context_precision", sa.Float(), nullable=True),
        sa.Column("context_recall", sa.Float(), nullable=True),
        sa.Column("claims", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("supported_claims", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("judge_model", sa.String(200), nullable=False, server_default=""),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_message_evaluations_tenant_evaluated", "message_evaluations", ["tenant_id", "evaluated_at"])


def downgrade() -> None:
    op.drop_index("ix_message_evaluations_tenant_evaluated", "message_evaluations")
    op.drop_table("message_evaluations")
    op.drop_table("tenant_evaluation_policies")
