"""agent runs: an answer keeps its run's steps, and a run paused for approval its state and
the end of its approval window

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("run_state", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("run_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for column in ("run_expires_at", "run_state", "steps"):
            batch.drop_column(column)
