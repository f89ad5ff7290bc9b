"""What every tool is, built-in or from an MCP server: a spec the model sees, a flag saying
whether a person must approve each call, a time limit, and an async call.

A tool never raises to the user: bad arguments, a refusal (an address outside the allow-list,
a table outside the SQL allow-list), a timeout or a failure all come back as a ToolResult with
is_error set, which the loop hands to the model as the observation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from llm_orchestrator.providers.base import ToolSpec


@dataclass(frozen=True)
class ToolContext:
    """Who the run acts for: every tool applies the platform's access rules to this caller."""

    tenant_id: str
    user_id: str
    roles: tuple[str, ...] = ()
    request_id: str = ""
    run_id: str = ""


@dataclass(frozen=True)
class ToolResult:
    # What the model reads as the observation (plain or JSON text, already capped in size).
    content: str
    is_error: bool = False
    # The structured result for the client and the stored message (search hits as citations,
    # SQL rows); never sent to the model beyond `content`.
    data: Any = field(default=None, hash=False, compare=False)


class ToolError(Exception):
    """A failure the model should see (raised inside a tool, turned into an error result)."""


class Tool(Protocol):
    spec: ToolSpec
    sensitive: bool  # a person approves each call before it runs
    timeout: float  # seconds one call may take

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Runs with arguments already validated against spec.parameters."""
        ...
