"""The MCP tables' queries (`mcp_servers`, `mcp_tools`); the rules are in `mcp.registry`."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot_common.errors import AppError, ErrorCode
from llm_orchestrator.models import McpServer, McpTool


async def of_tenant(session: AsyncSession, tenant_id: str) -> list[McpServer]:
    return list(await session.scalars(select(McpServer).where(McpServer.tenant_id == tenant_id).order_by(McpServer.name)))


async def in_tenant(session: AsyncSession, tenant_id: str, server_id: str) -> McpServer:
    """The server, if it is the tenant's; another tenant's is NOT_FOUND like an unknown id."""
    server = await session.get(McpServer, server_id)
    if server is None or server.tenant_id != tenant_id:
        raise AppError(ErrorCode.NOT_FOUND, "MCP server not found")
    return server


async def enabled_of_tenant(session: AsyncSession, tenant_id: str) -> list[McpServer]:
    return list(await session.scalars(
        select(McpServer).where(McpServer.tenant_id == tenant_id, McpServer.enabled.is_(True)).order_by(McpServer.name)))


async def commit_unique(session: AsyncSession) -> None:
    """Commits; a second server of the same name in the tenant is a CONFLICT."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise AppError(ErrorCode.CONFLICT, "an MCP server of this name exists already", {"field": "name"}) from None


def replace_tools(server: McpServer, discovered: list[tuple[str, str, dict]]) -> None:
    """The tools the server offers now: new ones added (nobody allowed, sensitive), known ones
    updated, those no longer offered kept unavailable with their grants. A known tool whose
    description or input schema changed is sensitive again: an admin let the tool as it was run
    without a person, not whatever the server now says it is."""
    known = {tool.name: tool for tool in server.tools}
    offered = set()
    for name, description, schema in discovered:
        offered.add(name)
        tool = known.get(name)
        if tool is None:
            server.tools.append(McpTool(name=name, description=description, input_schema=schema, allowed_roles=[],
                                        sensitive=True, available=True))
        else:
            if (tool.description, tool.input_schema) != (description, schema):
                tool.sensitive = True
            tool.description, tool.input_schema, tool.available = description, schema, True
    for name, tool in known.items():
        if name not in offered:
            tool.available = False


async def remove(session: AsyncSession, server: McpServer) -> None:
    await session.execute(delete(McpTool).where(McpTool.server_id == server.id))
    await session.delete(server)
    await session.commit()
