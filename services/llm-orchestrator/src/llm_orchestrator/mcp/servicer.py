"""The McpServers gRPC service: proto in, `McpRegistry` call, proto out (errors are AppErrors,
mapped by the shared interceptor)."""

from __future__ import annotations

import orjson

from chatbot.llm.v1 import mcp_pb2, mcp_pb2_grpc
from llm_orchestrator.mcp.registry import Caller, McpRegistry
from llm_orchestrator.mcp.tools import qualified_name
from llm_orchestrator.models import McpServer


def _caller(request) -> Caller:
    return Caller(tenant_id=request.caller.tenant_id, user_id=request.caller.user_id)


def server_pb(server: McpServer) -> mcp_pb2.McpServer:
    return mcp_pb2.McpServer(
        id=server.id, name=server.name, transport=server.transport, url=server.url, command=server.command,
        credential_headers=server.credential_headers, enabled=server.enabled, timeout_seconds=server.timeout_seconds,
        last_error=server.last_error, created_by=server.created_by,
        tools_refreshed_at=server.tools_refreshed_at.isoformat() if server.tools_refreshed_at else "",
        created_at=server.created_at.isoformat(), updated_at=server.updated_at.isoformat(),
        tools=[mcp_pb2.McpTool(name=t.name, tool_name=qualified_name(server.name, t.name), description=t.description,
                               input_schema_json=orjson.dumps(t.input_schema).decode(), allowed_roles=t.allowed_roles,
                               sensitive=t.sensitive, available=t.available) for t in server.tools],
    )


class McpServersServicer(mcp_pb2_grpc.McpServersServicer):
    def __init__(self, registry: McpRegistry) -> None:
        self.registry = registry

    async def ListServers(self, request, context):
        return mcp_pb2.ListMcpServersResponse(servers=[server_pb(s) for s in await self.registry.list(_caller(request))])

    async def GetServer(self, request, context):
        return server_pb(await self.registry.get(_caller(request), request.server_id))

    async def CreateServer(self, request, context):
        server = await self.registry.create(
            _caller(request), name=request.name, transport=request.transport, url=request.url, command=request.command,
            headers=dict(request.credential_headers),
            timeout=request.timeout_seconds if request.HasField("timeout_seconds") else None,
            enabled=request.enabled if request.HasField("enabled") else True)
        return server_pb(server)

    async def UpdateServer(self, request, context):
        changes = {name: getattr(request, name) for name in ("name", "url", "timeout_seconds", "enabled") if request.HasField(name)}
        headers = dict(request.credential_headers) if request.replace_credentials else None
        return server_pb(await self.registry.update(_caller(request), request.server_id, changes, headers))

    async def DeleteServer(self, request, context):
        await self.registry.delete(_caller(request), request.server_id)
        return mcp_pb2.DeleteMcpServerResponse()

    async def RefreshTools(self, request, context):
        return server_pb(await self.registry.refresh(_caller(request), request.server_id))

    async def SetToolGrants(self, request, context):
        grants = [(g.name, list(g.allowed_roles), g.sensitive if g.HasField("sensitive") else None) for g in request.grants]
        return server_pb(await self.registry.set_grants(_caller(request), request.server_id, grants))
