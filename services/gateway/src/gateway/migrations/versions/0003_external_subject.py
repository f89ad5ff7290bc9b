"""accounts created by an external OpenID Connect issuer

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
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("external_subject", sa.String(400), nullable=True))
        batch.create_unique_constraint("uq_users_external_subject", ["external_subject"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_external_subject", type_="unique")
        batch.drop_column("external_subject")
