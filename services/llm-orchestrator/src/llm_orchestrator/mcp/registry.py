"""The MCP servers of each tenant: registered, changed and removed by its admins, their tools
discovered, and each tool granted to roles (nobody until an admin allows it) and marked
sensitive or not (sensitive until an admin says otherwise: a person approves each call).

Rules kept here: a server's URL reaches only public addresses unless the operator allowed a
network (`chatbot_common.net_guard`); a stdio server runs only a command the operator listed in
LLM_MCP_STDIO_COMMANDS, chosen by its name, with no arguments or environment from the tenant;
credential headers are sealed (`secrets.SecretBox`) before they reach the database and never
leave this service again except towards their server."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from chatbot_common.net_guard import AddressPolicy, BlockedAddress
from llm_orchestrator.mcp import store
from llm_orchestrator.mcp.connections import McpConnections, McpUnreachable, Target, failure_reason
from llm_orchestrator.mcp.tools import McpTool, result_text
from llm_orchestrator.models import McpServer
from llm_orchestrator.secrets import SecretBox, SecretsUnreadable
from llm_orchestrator.tools.base import ToolContext, ToolResult

log = logging.getLogger(__name__)

SERVER_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*$")  # no "__": it separates server and tool
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# Headers the transport sets itself: a tenant's value would break the protocol or the request.
RESERVED_HEADERS = frozenset({"host", "content-length", "content-type", "accept", "connection", "transfer-encoding",
                              "mcp-session-id", "mcp-protocol-version", "last-event-id", "upgrade", "te", "trailer"})
MAX_HEADERS = 16


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    user_id: str


@dataclass(frozen=True)
class Limits:
    stdio_commands: dict[str, list[str]]
    default_timeout: float
    max_result_chars: int


def _invalid(message: str, field: str) -> AppError:
    return AppError(ErrorCode.VALIDATION_ERROR, message, {"field": field})


class McpRegistry:
    def __init__(self, sessions: async_sessionmaker, box: SecretBox, connections: McpConnections, policy: AddressPolicy,
                 limits: Limits) -> None:
        self.sessions = sessions
        self.box = box
        self.connections = connections
        self.policy = policy
        self.limits = limits

    # --- administration -----------------------------------------------------------------

    async def list(self, caller: Caller) -> list[McpServer]:
        async with self.sessions() as session:
            return await store.of_tenant(session, caller.tenant_id)

    async def get(self, caller: Caller, server_id: str) -> McpServer:
        async with self.sessions() as session:
            return await store.in_tenant(session, caller.tenant_id, server_id)

    async def create(self, caller: Caller, *, name: str, transport: str, url: str, command: str, headers: dict[str, str],
                     timeout: float | None, enabled: bool) -> McpServer:
        self._check_name(name)
        if transport == "http":
            if command:
                raise _invalid("an http server has a url, not a command", "command")
            await self._check_url(url)
            self._check_headers(headers)
        elif transport == "stdio":
            if url or headers:
                raise _invalid("a stdio server has a command (by name), no url or credentials", "url" if url else "credentials")
            self._check_command(command)
        else:
            raise _invalid("transport: http or stdio", "transport")
        now = utcnow()
        server = McpServer(id=new_id("mcp"), tenant_id=caller.tenant_id, name=name, transport=transport,
                           url=url if transport == "http" else "", command=command if transport == "stdio" else "",
                           credentials=self.box.seal(headers) if headers else "", credential_headers=sorted(headers),
                           enabled=enabled, timeout_seconds=self._timeout(timeout), last_error="", created_by=caller.user_id,
                           created_at=now, updated_at=now, tools=[])
        async with self.sessions() as session:
            session.add(server)
            await store.commit_unique(session)
        if enabled:
            return await self.refresh(caller, server.id)
        return server

    async def update(self, caller: Caller, server_id: str, changes: dict[str, Any], headers: dict[str, str] | None) -> McpServer:
        """`changes`: any of name, url, timeout_seconds, enabled; `headers` replaces every
        credential header when given (None: unchanged)."""
        async with self.sessions() as session:
            server = await store.in_tenant(session, caller.tenant_id, server_id)
            reconnect = False
            if "name" in changes:
                self._check_name(changes["name"])
                server.name = changes["name"]
            if "url" in changes:
                if server.transport != "http":
                    raise _invalid("a stdio server has no url", "url")
                await self._check_url(changes["url"])
                reconnect |= changes["url"] != server.url
                server.url = changes["url"]
            if headers is not None:
                if server.transport != "http":
                    raise _invalid("a stdio server has no credentials", "credentials")
                self._check_headers(headers)
                server.credentials = self.box.seal(headers) if headers else ""
                server.credential_headers = sorted(headers)
                reconnect = True
            if "timeout_seconds" in changes:
                server.timeout_seconds = self._timeout(changes["timeout_seconds"])
            if "enabled" in changes:
                reconnect |= changes["enabled"] and not server.enabled
                server.enabled = changes["enabled"]
            server.updated_at = utcnow()
            await store.commit_unique(session)
        await self.connections.forget(server_id)
        if reconnect and server.enabled:
            return await self.refresh(caller, server_id)
        return await self.get(caller, server_id)

    async def delete(self, caller: Caller, server_id: str) -> None:
        async with self.sessions() as session:
            server = await store.in_tenant(session, caller.tenant_id, server_id)
            await store.remove(session, server)
        await self.connections.forget(server_id)

    async def refresh(self, caller: Caller, server_id: str) -> McpServer:
        """Asks the server for its tools. A server that cannot be reached keeps its tools as
        they were and says why in `last_error`."""
        async with self.sessions() as session:
            server = await store.in_tenant(session, caller.tenant_id, server_id)
            try:
                discovered = await self.connections.list_tools(self._target(server), server.timeout_seconds)
            except (McpUnreachable, BlockedAddress, SecretsUnreadable) as exc:
                server.last_error = str(exc)[:500] or type(exc).__name__
                log.warning("MCP tool discovery failed", extra={"mcp_server_id": server.id, "error": type(exc).__name__})
            else:
                store.replace_tools(server, [(t.name, t.description or "", t.input_schema or {}) for t in discovered])
                server.last_error = ""
                server.tools_refreshed_at = utcnow()
            await session.commit()
        return await self.get(caller, server_id)

    async def set_grants(self, caller: Caller, server_id: str, grants: list[tuple[str, list[str], bool | None]]) -> McpServer:
        async with self.sessions() as session:
            server = await store.in_tenant(session, caller.tenant_id, server_id)
            tools = {tool.name: tool for tool in server.tools}
            for name, roles, sensitive in grants:
                tool = tools.get(name)
                if tool is None:
                    raise AppError(ErrorCode.VALIDATION_ERROR, f"the server offers no tool named {name[:128]!r}",
                                   {"field": "tools", "tool": name[:128]})
                bad = [role for role in roles if not ROLE_NAME.fullmatch(role)]
                if bad:
                    raise _invalid("roles are lower-case names", "allowed_roles")
                tool.allowed_roles = sorted(set(roles))
                if sensitive is not None:
                    tool.sensitive = sensitive
            server.updated_at = utcnow()
            await session.commit()
        return await self.get(caller, server_id)

    # --- a run's tools ------------------------------------------------------------------

    async def tools_for(self, context: ToolContext) -> list[McpTool]:
        """The tools of the tenant's enabled servers that one of the caller's roles was granted."""
        roles = set(context.roles)
        if not roles:
            return []
        async with self.sessions() as session:
            servers = await store.enabled_of_tenant(session, context.tenant_id)
        tools: dict[str, McpTool] = {}
        for server in servers:
            for tool in server.tools:
                if tool.available and roles & set(tool.allowed_roles):
                    adapter = McpTool(self, server.id, server.name, tool.name, tool.description, tool.input_schema,
                                      tool.sensitive, server.timeout_seconds)
                    tools.setdefault(adapter.spec.name, adapter)  # two names cut to one: the first keeps it
        return list(tools.values())

    async def call(self, server_id: str, tool_name: str, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """One call of a granted tool for `context`'s caller; a tool the caller may not use (or
        that is gone, or whose server is off) is refused before anything is sent."""
        async with self.sessions() as session:
            server = await session.get(McpServer, server_id)
            tool = next((t for t in server.tools if t.name == tool_name), None) if server is not None else None
        if (server is None or tool is None or server.tenant_id != context.tenant_id or not server.enabled or not tool.available
                or not set(context.roles) & set(tool.allowed_roles)):
            return ToolResult(f"the tool {tool_name!r} is not available to you", is_error=True)
        try:
            result = await self.connections.call_tool(self._target(server), tool_name, arguments, server.timeout_seconds)
        except TimeoutError:
            return ToolResult(f"the tool did not answer within {server.timeout_seconds:g} s", is_error=True)
        except (McpUnreachable, BlockedAddress, SecretsUnreadable) as exc:
            log.warning("MCP tool call failed", extra={"mcp_server_id": server_id, "error": type(exc).__name__})
            return ToolResult(f"the tool's server cannot be reached: {exc}", is_error=True)
        except Exception as exc:  # noqa: BLE001 - a tool's failure is the model's observation, never the user's error
            log.warning("MCP tool call failed", extra={"mcp_server_id": server_id, "error": type(exc).__name__})
            return ToolResult(f"the tool failed: {failure_reason(exc)}", is_error=True)
        text = result_text(result.content, result.structured_content, self.limits.max_result_chars)
        return ToolResult(text, is_error=result.is_error, data=result.structured_content)

    # --- checks -------------------------------------------------------------------------

    def _target(self, server: McpServer) -> Target:
        version = server.updated_at.isoformat()
        if server.transport == "stdio":
            argv = self.limits.stdio_commands.get(server.command)
            if not argv:
                raise McpUnreachable(f"the command {server.command!r} is no longer allow-listed by the operator")
            return Target(server.id, version, "stdio", argv=tuple(argv))
        return Target(server.id, version, "http", url=server.url, headers=self.box.open(server.credentials))

    def _check_name(self, name: str) -> None:
        if not (1 <= len(name) <= 24 and SERVER_NAME.fullmatch(name)):
            raise _invalid("name: 1-24 lower-case letters and digits, words joined by single '-' or '_'", "name")

    async def _check_url(self, url: str) -> None:
        if not url or len(url) > 2000:
            raise _invalid("an http server needs its URL (at most 2000 characters)", "url")
        try:
            await self.policy.check_url(url)
        except BlockedAddress as exc:
            raise AppError(ErrorCode.VALIDATION_ERROR, f"url not allowed: {exc}", {"field": "url"}) from None

    def _check_command(self, command: str) -> None:
        if command not in self.limits.stdio_commands:
            raise AppError(ErrorCode.VALIDATION_ERROR, "command: not one the operator allow-listed",
                           {"field": "command", "allowed": sorted(self.limits.stdio_commands)})

    def _check_headers(self, headers: dict[str, str]) -> None:
        if len(headers) > MAX_HEADERS:
            raise _invalid(f"at most {MAX_HEADERS} credential headers", "credentials")
        for name, value in headers.items():
            if not HEADER_NAME.fullmatch(name) or name.lower() in RESERVED_HEADERS:
                raise _invalid("credential header names: letters, digits and '-', not one the transport sets", "credentials")
            if not value or len(value) > 8192 or any(ch in value for ch in "\r\n\0"):
                raise _invalid("credential header values: 1-8192 characters on one line", "credentials")

    def _timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.limits.default_timeout
        if not 0.5 <= timeout <= 600:
            raise _invalid("timeout_seconds: 0.5 to 600", "timeout_seconds")
        return timeout
