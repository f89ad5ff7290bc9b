"""browser sign-ins under way at the external OpenID Connect issuer

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_sign_ins",
        sa.Column("state_sha256", sa.String(64), primary_key=True),
        sa.Column("binding_sha256", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("return_to", sa.String(1000), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_oidc_sign_ins_expires", "oidc_sign_ins", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_sign_ins_expires", table_name="oidc_sign_ins")
    op.drop_table("oidc_sign_ins")
