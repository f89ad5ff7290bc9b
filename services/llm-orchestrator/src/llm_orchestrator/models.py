"""Tables owned by the llm-orchestrator: the MCP servers tenants registered and their tools.
(More of the orchestrator's state may join them here, each with its own migration.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chatbot_common.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class McpServer(Base):
    __tablename__ = "mcp_servers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(32))
    transport: Mapped[str] = mapped_column(String(16))  # http | stdio
    url: Mapped[str] = mapped_column(Text, default="")
    command: Mapped[str] = mapped_column(String(32), default="")  # a name from LLM_MCP_STDIO_COMMANDS
    # The credential headers as one Fernet token (llm_orchestrator.secrets); their names in clear.
    credentials: Mapped[str] = mapped_column(Text, default="")
    credential_headers: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    tools_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tools: Mapped[list[McpTool]] = relationship(back_populates="server", cascade="all, delete-orphan", lazy="selectin",
                                                order_by="McpTool.name")

    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_mcp_servers_tenant_name"),)


class McpTool(Base):
    """A tool a server offered at its last discovery, and the admin's choices for it."""

    __tablename__ = "mcp_tools"

    server_id: Mapped[str] = mapped_column(String(40), ForeignKey("mcp_servers.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    input_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Roles whose members' runs get the tool; empty (the default): nobody's.
    allowed_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=True)
    # False once the server stopped offering it (its grants are kept, in case it returns).
    available: Mapped[bool] = mapped_column(Boolean, default=True)

    server: Mapped[McpServer] = relationship(back_populates="tools")


Index("ix_mcp_servers_tenant", McpServer.tenant_id)
