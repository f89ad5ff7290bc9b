"""A tenant's MCP servers (the `admin` permission): register, change, remove, discover their
tools and grant each tool to roles (`gateway.mcp_servers`; the orchestrator owns them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from chatbot_common.ids import id_pattern
from gateway.api.deps import Admin, McpServersDep
from gateway.api.schemas.mcp_servers import (
    McpServerChange, McpServerList, McpServerOut, McpToolGrants, McpToolList, NewMcpServer, server_out, tool_out,
)

router = APIRouter(prefix="/admin/mcp-servers", tags=["admin"])

ServerId = Annotated[str, Path(pattern=id_pattern("mcp"))]


@router.get("", response_model=McpServerList, summary="Your organisation's MCP servers")
async def list_servers(principal: Admin, servers: McpServersDep) -> McpServerList:
    return McpServerList(servers=[server_out(s) for s in await servers.list(principal)])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=McpServerOut,
             summary="Register an MCP server; its tools are discovered at once (none is usable until granted)")
async def create_server(body: NewMcpServer, request: Request, principal: Admin, servers: McpServersDep) -> McpServerOut:
    return server_out(await servers.create(principal, body.fields(), body.credentials or {}, request))


@router.get("/{server_id}", response_model=McpServerOut)
async def get_server(server_id: ServerId, principal: Admin, servers: McpServersDep) -> McpServerOut:
    return server_out(await servers.get(principal, server_id))


@router.patch("/{server_id}", response_model=McpServerOut, summary="Change an MCP server (credentials are replaced as a whole)")
async def change_server(server_id: ServerId, body: McpServerChange, request: Request, principal: Admin,
                        servers: McpServersDep) -> McpServerOut:
    return server_out(await servers.update(principal, server_id, body.fields(), body.credentials, request))


@router.delete("/{server_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, summary="Remove an MCP server")
async def delete_server(server_id: ServerId, request: Request, principal: Admin, servers: McpServersDep) -> Response:
    await servers.delete(principal, server_id, request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{server_id}/refresh", response_model=McpServerOut, summary="Discover the server's tools again")
async def refresh_tools(server_id: ServerId, request: Request, principal: Admin, servers: McpServersDep) -> McpServerOut:
    return server_out(await servers.refresh(principal, server_id, request))


@router.get("/{server_id}/tools", response_model=McpToolList, summary="The server's tools and who may use each")
async def list_tools(server_id: ServerId, principal: Admin, servers: McpServersDep) -> McpToolList:
    return McpToolList(tools=[tool_out(t) for t in (await servers.get(principal, server_id)).tools])


@router.patch("/{server_id}/tools", response_model=McpToolList,
              summary="Grant tools to roles and say which need approval (tools not named keep their grants)")
async def grant_tools(server_id: ServerId, body: McpToolGrants, request: Request, principal: Admin,
                      servers: McpServersDep) -> McpToolList:
    grants = [(t.name, list(t.allowed_roles), t.sensitive) for t in body.tools]
    return McpToolList(tools=[tool_out(t) for t in (await servers.set_grants(principal, server_id, grants, request)).tools])
