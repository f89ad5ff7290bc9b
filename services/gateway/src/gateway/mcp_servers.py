"""A tenant's MCP servers, administered by its admins: through the llm-orchestrator, which owns
the MCP clients and their tables (it keeps the credentials encrypted and never sends them back),
and audited here like every administrative change (header names only, never their values)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot.llm.v1 import mcp_pb2 as pb
from gateway import audit
from gateway.grpc_clients import Downstream, caller_of
from gateway.security import Principal


class McpServers:
    def __init__(self, downstream: Downstream, sessions: async_sessionmaker, timeout: float, discovery_timeout: float) -> None:
        self.downstream = downstream
        self.sessions = sessions
        self.timeout = timeout
        # Creating, changing and refreshing a server waits for its tools/list.
        self.discovery_timeout = discovery_timeout

    def _ref(self, admin: Principal, server_id: str) -> pb.McpServerRef:
        return pb.McpServerRef(caller=caller_of(admin), server_id=server_id)

    async def _audit(self, admin: Principal, action: str, request: audit.Origin, server: pb.McpServer | str,
                     details: dict[str, Any] | None = None) -> None:
        server_id = server if isinstance(server, str) else server.id
        await audit.write(self.sessions, audit.by(admin, action, request, target_type="mcp_server", target_id=server_id,
                                                  details=details))

    async def list(self, admin: Principal) -> list[pb.McpServer]:
        reply = await self.downstream.mcp.ListServers(pb.ListMcpServersRequest(caller=caller_of(admin)), timeout=self.timeout)
        return list(reply.servers)

    async def get(self, admin: Principal, server_id: str) -> pb.McpServer:
        return await self.downstream.mcp.GetServer(self._ref(admin, server_id), timeout=self.timeout)

    async def create(self, admin: Principal, fields: dict[str, Any], credentials: dict[str, str],
                     request: audit.Origin) -> pb.McpServer:
        message = pb.CreateMcpServerRequest(caller=caller_of(admin), credential_headers=credentials, **fields)
        server = await self.downstream.mcp.CreateServer(message, timeout=self.discovery_timeout)
        await self._audit(admin, "mcp_server.create", request, server, {
            "name": server.name, "transport": server.transport, "url": server.url, "command": server.command,
            "credential_headers": list(server.credential_headers), "tools": len(server.tools)})
        return server

    async def update(self, admin: Principal, server_id: str, fields: dict[str, Any], credentials: dict[str, str] | None,
                     request: audit.Origin) -> pb.McpServer:
        message = pb.UpdateMcpServerRequest(caller=caller_of(admin), server_id=server_id, replace_credentials=credentials is not None,
                                            credential_headers=credentials or {}, **fields)
        server = await self.downstream.mcp.UpdateServer(message, timeout=self.discovery_timeout)
        details: dict[str, Any] = {"changed": sorted(fields)}
        if credentials is not None:
            details["credential_headers"] = sorted(credentials)
        await self._audit(admin, "mcp_server.update", request, server, details)
        return server

    async def delete(self, admin: Principal, server_id: str, request: audit.Origin) -> None:
        await self.downstream.mcp.DeleteServer(self._ref(admin, server_id), timeout=self.timeout)
        await self._audit(admin, "mcp_server.delete", request, server_id)

    async def refresh(self, admin: Principal, server_id: str, request: audit.Origin) -> pb.McpServer:
        server = await self.downstream.mcp.RefreshTools(self._ref(admin, server_id), timeout=self.discovery_timeout)
        await self._audit(admin, "mcp_server.refresh", request, server,
                          {"tools": len(server.tools), "error": bool(server.last_error)})
        return server

    async def set_grants(self, admin: Principal, server_id: str, grants: list[tuple[str, list[str], bool | None]],
                         request: audit.Origin) -> pb.McpServer:
        message = pb.SetMcpToolGrantsRequest(caller=caller_of(admin), server_id=server_id, grants=[
            pb.McpToolGrant(name=name, allowed_roles=roles, **({} if sensitive is None else {"sensitive": sensitive}))
            for name, roles, sensitive in grants])
        server = await self.downstream.mcp.SetToolGrants(message, timeout=self.timeout)
        await self._audit(admin, "mcp_server.tool_grants", request, server, {"tools": [
            {"name": name, "allowed_roles": sorted(set(roles)), **({} if sensitive is None else {"sensitive": sensitive})}
            for name, roles, sensitive in grants]})
        return server
