"""The tools a run may use: the built-in ones the operator enabled, plus those of any other
source (the MCP servers a tenant registered, added through `ToolProvider`), resolved for one
caller so that a run never sees a tool its caller may not use.

Built-in tools are limited by role (LLM_TOOLS_ROLES: a tool listed there is offered only to
callers holding one of its roles; a tool not listed, to everyone). A provider's tools come with
their own access rules, which the provider applies in `tools_for`. A provider that fails (an
MCP server down) costs the run its tools, not the run.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from llm_orchestrator.providers.base import ToolCall, ToolSpec
from llm_orchestrator.tools.base import Tool, ToolContext, ToolResult
from llm_orchestrator.tools.running import DEFAULT_MAX_OBSERVATION_CHARS, error_result, execute, run_tool

log = logging.getLogger(__name__)


class ToolProvider(Protocol):
    """A source of tools beyond the built-in ones (an MCP client): the tools this caller may use."""

    async def tools_for(self, context: ToolContext) -> Sequence[Tool]: ...


@dataclass
class ToolSet:
    """The tools one run may call, by name; built once per run (ToolRegistry.for_caller)."""

    tools: dict[str, Tool] = field(default_factory=dict)
    max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self.tools.values()]

    def get(self, name: str) -> Tool | None:
        return self.tools.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.tools

    def __len__(self) -> int:
        return len(self.tools)

    def is_sensitive(self, name: str) -> bool:
        """Whether a call needs a person's approval; an unknown name is not run at all."""
        tool = self.tools.get(name)
        return tool is not None and tool.sensitive

    def unknown(self, name: str) -> ToolResult:
        offered = ", ".join(self.tools) or "none"
        return error_result(f"there is no tool named {name[:80]!r}; the tools are: {offered}", self.max_observation_chars)

    async def run(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """One call as the model wrote it (validated first). Never raises but on cancellation."""
        tool = self.tools.get(call.name)
        if tool is None:
            return self.unknown(call.name)
        return await run_tool(tool, call.arguments, context, self.max_observation_chars)

    async def run_validated(self, name: str, arguments: dict, context: ToolContext) -> ToolResult:
        """A call whose arguments were validated already (e.g. approved, or edited by a person and
        checked with running.validate_arguments)."""
        tool = self.tools.get(name)
        if tool is None:
            return self.unknown(name)
        return await execute(tool, arguments, context, self.max_observation_chars)


class ToolRegistry:
    """Built-in tools and tool providers, from which each run gets the set its caller may use."""

    def __init__(self, builtin: Iterable[Tool] = (), roles: Mapping[str, Collection[str]] | None = None,
                 providers: Iterable[ToolProvider] = (), max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS) -> None:
        self.builtin: dict[str, Tool] = {}
        for tool in builtin:
            if tool.spec.name in self.builtin:
                raise ValueError(f"two tools named {tool.spec.name!r}")
            self.builtin[tool.spec.name] = tool
        self.roles = {name: frozenset(r) for name, r in (roles or {}).items()}
        self.providers: list[ToolProvider] = list(providers)
        self.max_observation_chars = max_observation_chars

    def add_provider(self, provider: ToolProvider) -> None:
        """The seam for tools from elsewhere (MCP servers): consulted on every run."""
        self.providers.append(provider)

    def allowed(self, name: str, context: ToolContext) -> bool:
        roles = self.roles.get(name)
        return roles is None or bool(roles & set(context.roles))

    async def for_caller(self, context: ToolContext, names: Collection[str] | None = None) -> ToolSet:
        """The tools `context`'s caller may use, optionally only those named (a request's choice).
        A provider's tool never shadows a built-in one of the same name."""
        tools = {name: tool for name, tool in self.builtin.items() if self.allowed(name, context)}
        for provider in self.providers:
            try:
                extra = await provider.tools_for(context)
            except Exception as exc:  # noqa: BLE001 - one source down must not end the run
                log.warning("tool provider %s failed: %s", type(provider).__name__, type(exc).__name__,
                            extra={"run_id": context.run_id, "request_id": context.request_id})
                continue
            for tool in extra:
                if tool.spec.name in tools:
                    log.warning("tool %s offered twice; the first is kept", tool.spec.name)
                    continue
                tools[tool.spec.name] = tool
        if names is not None:
            wanted = set(names)
            tools = {name: tool for name, tool in tools.items() if name in wanted}
        return ToolSet(tools, self.max_observation_chars)
