"""message feedback: the owner's rating of an answer (up or down) with an optional comment

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("feedback_rating", sa.SmallInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("feedback_comment", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("feedback_at")
        batch.drop_column("feedback_comment")
        batch.drop_column("feedback_rating")
