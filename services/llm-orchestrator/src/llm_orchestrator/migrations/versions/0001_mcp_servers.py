"""MCP servers registered by tenant admins, and their tools with per-role grants

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("command", sa.String(32), nullable=False),
        sa.Column("credentials", sa.Text, nullable=False),
        sa.Column("credential_headers", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("timeout_seconds", sa.Float, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("tools_refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_mcp_servers_tenant_name"),
    )
    op.create_index("ix_mcp_servers_tenant", "mcp_servers", ["tenant_id"])
    op.create_table(
        "mcp_tools",
        sa.Column("server_id", sa.String(40), sa.ForeignKey("mcp_servers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("input_schema", sa.JSON, nullable=False),
        sa.Column("allowed_roles", sa.JSON, nullable=False),
        sa.Column("sensitive", sa.Boolean, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
    )

def downgrade() -> None:
    op.drop_table("mcp_tools")
    op.drop_index("ix_mcp_servers_tenant", "mcp_servers")
    op.drop_table("mcp_servers")
