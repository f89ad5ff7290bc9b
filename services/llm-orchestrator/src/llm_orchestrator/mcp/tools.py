"""An allowed tool of a tenant's MCP server as a `tools.base.Tool`: the agent loop calls it like
a built-in one. Its name is namespaced by the server (`<server>__<tool>`), its parameters are the
tool's input schema, and each call goes back through the registry, which checks the grant again
(a grant withdrawn during a run applies to its next call) and turns every failure into an error
result for the model."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from llm_orchestrator.providers.base import ToolSpec
from llm_orchestrator.tools.base import ToolContext, ToolResult

if TYPE_CHECKING:
    from llm_orchestrator.mcp.registry import McpRegistry

SEPARATOR = "__"
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64  # what OpenAI's and Anthropic's APIs accept for a function's name


def qualified_name(server: str, tool: str) -> str:
    """The name the model sees: providers accept [A-Za-z0-9_-]{1,64} only."""
    return f"{server}{SEPARATOR}{_NOT_IN_NAME.sub('_', tool)}"[:MAX_NAME]


def parameters_of(schema: dict[str, Any]) -> dict[str, Any]:
    """The tool's input schema as function parameters (an object schema, as providers want)."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return {"type": "object", "properties": {}}
    return schema


class McpTool:
    def __init__(self, registry: McpRegistry, server_id: str, server_name: str, tool: str, description: str,
                 schema: dict[str, Any], sensitive: bool, timeout: float) -> None:
        self.registry = registry
        self.server_id = server_id
        self.tool = tool
        self.spec = ToolSpec(name=qualified_name(server_name, tool), description=description or f"{tool} ({server_name})",
                             parameters=parameters_of(schema))
        self.sensitive = sensitive
        self.timeout = timeout

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        return await self.registry.call(self.server_id, self.tool, arguments, context)


def result_text(content: list[Any], structured: Any, limit: int) -> str:
    """What the model reads of an MCP result: its text blocks (other blocks named, not inlined),
    else its structured content as JSON, cut to `limit` characters."""
    parts = []
    for block in content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(getattr(block, "resource", None), "text"):
            parts.append(block.resource.text)
        else:
            parts.append(f"[{kind or 'content'} omitted]")
    text = "\n".join(parts)
    if not text and structured is not None:
        text = orjson.dumps(structured).decode()
    return text if len(text) <= limit else text[:limit] + f"\n[cut at {limit} characters]"
