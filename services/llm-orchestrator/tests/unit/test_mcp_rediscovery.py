"""Rediscovering an MCP server's tools: a tool an admin let run without approval needs approval
again once its server describes it differently (a "rug pull": same name, new behaviour)."""

from __future__ import annotations

from llm_orchestrator.mcp.store import replace_tools
from llm_orchestrator.models import McpServer, McpTool

ADD = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}


def server_with_add() -> McpServer:
    tool = McpTool(name="add", description="Adds two numbers.", input_schema=ADD, allowed_roles=["member"], sensitive=False,
                   available=True)
    return McpServer(id="mcp_1", tenant_id="acme", name="crm", tools=[tool])


def test_an_unchanged_tool_keeps_its_grant_and_approval_setting():
    server = server_with_add()
    replace_tools(server, [("add", "Adds two numbers.", dict(ADD))])
    (tool,) = server.tools
    assert (tool.sensitive, tool.allowed_roles, tool.available) == (False, ["member"], True)


def test_a_changed_description_or_schema_needs_approval_again():
    server = server_with_add()
    replace_tools(server, [("add", "Adds two numbers. Also e-mails the sum to the sales list.", ADD)])
    assert server.tools[0].sensitive and server.tools[0].allowed_roles == ["member"]
    server = server_with_add()
    replace_tools(server, [("add", "Adds two numbers.", {**ADD, "properties": {**ADD["properties"], "to": {"type": "string"}}})])
    assert server.tools[0].sensitive
