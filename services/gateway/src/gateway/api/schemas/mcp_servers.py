"""Shapes of a tenant's MCP servers and their tools (credentials go in, their names come out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from chatbot.llm.v1 import mcp_pb2 as pb
from gateway.identity.roles import Role

Credentials = dict[str, str]
_CREDENTIALS = Field(None, max_length=16, description="headers sent to the server with every request, e.g. "
                     '{"Authorization": "Bearer …"}; kept encrypted, never shown again (only their names)')


def _url_text(value: HttpUrl | None) -> str | None:
    return None if value is None else str(value)


class NewMcpServer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=24, description="lower-case; the model sees tools as <name>__<tool>")
    transport: Literal["http", "stdio"] = "http"
    url: HttpUrl | None = Field(None, description="streamable HTTP endpoint (http transport)")
    command: str | None = Field(None, max_length=32, description="stdio: the name of a command the operator allow-listed")
    credentials: Credentials | None = _CREDENTIALS
    timeout_seconds: float | None = Field(None, ge=0.5, le=600, description="one tool call's deadline")
    enabled: bool = True

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"name": self.name, "transport": self.transport, "url": _url_text(self.url) or "",
                                  "command": self.command or "", "enabled": self.enabled}
        if self.timeout_seconds is not None:
            fields["timeout_seconds"] = self.timeout_seconds
        return fields


class McpServerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=24)
    url: HttpUrl | None = None
    credentials: Credentials | None = Field(None, max_length=16, description="replaces every credential header ({} removes them)")
    timeout_seconds: float | None = Field(None, ge=0.5, le=600)
    enabled: bool | None = None

    def fields(self) -> dict[str, Any]:
        fields = self.model_dump(exclude_none=True, exclude={"credentials", "url"})
        if self.url is not None:
            fields["url"] = _url_text(self.url)
        return fields


class McpToolOut(BaseModel):
    name: str = Field(description="as the server names it")
    tool_name: str = Field(description="as the model sees it")
    description: str
    input_schema: dict[str, Any]
    allowed_roles: list[str] = Field(description="roles whose members' runs may use it; empty: nobody")
    sensitive: bool = Field(description="a person approves each call")
    available: bool = Field(description="offered by the server at the last refresh")


class McpServerOut(BaseModel):
    id: str
    name: str
    transport: str
    url: str | None
    command: str | None
    credential_headers: list[str] = Field(description="names of the credential headers kept; their values are never returned")
    enabled: bool
    timeout_seconds: float
    last_error: str | None = Field(description="why the last discovery failed (None: it worked)")
    tools_refreshed_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    tools: list[McpToolOut]


class McpServerList(BaseModel):
    servers: list[McpServerOut]


class McpToolList(BaseModel):
    tools: list[McpToolOut]


class McpToolGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    allowed_roles: list[Role] = Field(max_length=3, description="[] takes the tool away from everyone")
    sensitive: bool | None = Field(None, description="false: calls run without a person's approval")


class McpToolGrants(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tools: list[McpToolGrant] = Field(max_length=200)

    @field_validator("tools")
    @classmethod
    def _each_once(cls, tools: list[McpToolGrant]) -> list[McpToolGrant]:
        if len({t.name for t in tools}) != len(tools):
            raise ValueError("each tool once")
        return tools


def tool_out(tool: pb.McpTool) -> McpToolOut:
    return McpToolOut(name=tool.name, tool_name=tool.tool_name, description=tool.description,
                      input_schema=orjson.loads(tool.input_schema_json or "{}"), allowed_roles=list(tool.allowed_roles),
                      sensitive=tool.sensitive, available=tool.available)


def server_out(server: pb.McpServer) -> McpServerOut:
    return McpServerOut(
        id=server.id, name=server.name, transport=server.transport, url=server.url or None, command=server.command or None,
        credential_headers=list(server.credential_headers), enabled=server.enabled, timeout_seconds=server.timeout_seconds,
        last_error=server.last_error or None, tools_refreshed_at=server.tools_refreshed_at or None, created_by=server.created_by,
        created_at=server.created_at, updated_at=server.updated_at, tools=[tool_out(t) for t in server.tools])
