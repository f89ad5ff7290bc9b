"""when each refresh-token family (a session) began, so that it ends a fixed time after

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("family_started_at", sa.DateTime(timezone=True), nullable=True))
    # Existing sessions began with the first token of their family.
    op.execute(sa.text(
        "UPDATE refresh_tokens SET family_started_at = "
        "(SELECT MIN(first.created_at) FROM refresh_tokens AS first WHERE first.family_id = refresh_tokens.family_id)"))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("family_started_at")
