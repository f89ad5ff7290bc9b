"""gRPC surface of the agent loop (Run, ListTools): maps proto <-> the loop's objects. Mixed
into LlmServicer (one gRPC service); the loop itself lives in llm_orchestrator.agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson
from chatbot.common.v1 import common_pb2
from chatbot.llm.v1 import llm_pb2

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.guardrails.redaction import Redactor, StreamRedactor
from chatbot_common.guardrails.spotlight import unmark
from chatbot_common.text import valid_text
from llm_orchestrator import output_filter
from llm_orchestrator.accounting import CostControl, Request
from llm_orchestrator.agents.limits import RunLimits
from llm_orchestrator.agents.screen import ArgumentScreen, protected_text
from llm_orchestrator.agents.loop import (
    AgentLoop, ApprovalNeeded, Decision, RunEnded, StepSettled, ToolCallStarted, ToolObserved,
)
from llm_orchestrator.agents.state import RunState
from llm_orchestrator.pricing import cost_text
from llm_orchestrator.providers.base import ChatMessage, Delta, GenParams, ProviderError
from llm_orchestrator.router import Router, UnknownModel
from llm_orchestrator.tools.base import Tool, ToolContext
from llm_orchestrator.tools.running import DEFAULT_MAX_OBSERVATION_CHARS, execute, validate_arguments

AUTO = "auto"

# The tools a caller may use, by name (the platform's access rules applied).
ResolveTools = Callable[[ToolContext], Awaitable[Mapping[str, Tool]]]


@dataclass
class RunSetup:
    router: Router
    costs: CostControl
    resolve_tools: ResolveTools
    limits: RunLimits
    redactor: Redactor | None = None
    max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS  # LLM_TOOLS_MAX_OBSERVATION_CHARS


def _context(caller: common_pb2.Caller, request_id: str = "", run_id: str = "") -> ToolContext:
    return ToolContext(caller.tenant_id, caller.user_id, tuple(caller.roles), request_id, run_id)


def _limits(setup: RunSetup, limits: llm_pb2.RunLimits) -> RunLimits:
    try:
        cost = Decimal(limits.max_cost) if limits.max_cost else None
    except InvalidOperation:
        raise AppError(ErrorCode.VALIDATION_ERROR, "max_cost must be a decimal number of USD", {"field": "max_cost"}) from None
    return setup.limits.lowered(limits.max_steps or None, limits.max_seconds or None, limits.max_tokens or None, cost)


def enabled_tools(available: Mapping[str, Tool], names: list[str]) -> dict[str, Tool]:
    """The tools a run may call: those named (["auto"]: every tool the caller may use); a name
    the caller may not use is refused like an unknown one."""
    if list(names) == [AUTO]:
        return dict(available)
    unknown = sorted({n for n in names if n not in available})
    if unknown:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"unknown tools: {', '.join(unknown)}",
                       {"field": "tools", "unknown": unknown, "available": sorted(available)})
    return {n: available[n] for n in dict.fromkeys(names)}


class RunServicer:
    """Run and ListTools; `runs` is set by the server (llm_orchestrator.server)."""

    runs: RunSetup | None = None

    def _setup(self) -> RunSetup:
        if self.runs is None:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "agent runs are not configured")
        return self.runs

    async def ListTools(self, request: llm_pb2.ListToolsRequest, context) -> llm_pb2.ListToolsResponse:
        tools = await self._setup().resolve_tools(_context(request.caller))
        return llm_pb2.ListToolsResponse(tools=[
            llm_pb2.ToolInfo(name=name, description=t.spec.description, sensitive=t.sensitive,
                             parameters=orjson.dumps(t.spec.parameters).decode()) for name, t in sorted(tools.items())])

    async def Run(self, request: llm_pb2.RunRequest, context) -> AsyncIterator[llm_pb2.RunEvent]:
        setup = self._setup()
        tool_context = _context(request.caller, request.request_id, request.run_id)
        tools = enabled_tools(await setup.resolve_tools(tool_context), list(request.tools))
        p = request.params
        params = GenParams(temperature=p.temperature if p.HasField("temperature") else None,
                           max_tokens=p.max_tokens if p.HasField("max_tokens") else None)
        if request.state:
            state = RunState.from_json(request.state)
        else:
            state = RunState([ChatMessage(m.role, m.content) for m in request.messages])
        decisions = {d.call_id: Decision(d.action, d.arguments) for d in request.decisions}
        try:
            plan = await setup.costs.plan(Request(model=request.model, provider=request.provider, messages=state.messages[:2],
                                                  params=params, tenant_id=tool_context.tenant_id, user_id=tool_context.user_id))
        except UnknownModel as exc:
            raise AppError(ErrorCode.VALIDATION_ERROR, str(exc), {"field": "model"}) from None

        def generate(messages: list[ChatMessage], step_params: GenParams):
            return _step(setup.router, plan.model, request.provider, messages, step_params)

        def price(provider: str, model: str, use) -> Decimal | None:
            return setup.costs.price(provider, model, use).cost_value

        def run(tool, arguments, context):
            return execute(tool, arguments, context, setup.max_observation_chars)

        loop = AgentLoop(generate, price, tools, lambda tool, text: validate_arguments(tool.spec, text), run,
                         _limits(setup, request.limits), tool_context,
                         screen=ArgumentScreen(request.protected_prompt or protected_text(state.messages), setup.redactor))
        # A bad decision is refused before anything runs, so the caller may ask again.
        if state.pending:
            loop.validate_decisions(state, decisions)
        redact = StreamRedactor(setup.redactor) if setup.redactor else None
        try:
            async with asyncio.timeout(context.time_remaining()):
                async for event in loop.run(state, params, decisions):
                    if isinstance(event, Delta):
                        text = await output_filter.feed(redact, event.text) if redact else event.text
                        if text:
                            yield llm_pb2.RunEvent(delta=llm_pb2.TextDelta(text=text))
                        continue
                    if redact and (tail := await output_filter.flush(redact)):
                        yield llm_pb2.RunEvent(delta=llm_pb2.TextDelta(text=tail))
                    yield _event(event)
        except Exception as exc:
            # The run failed: its totals (every step's usage, each already sent as it settled) and
            # the tool calls its steps made go out before the error, for the caller to store; the
            # error ends the stream. A cancelled stream (stopped, the caller gone, its deadline)
            # delivers nothing more: what it used went out step by step.
            yield llm_pb2.RunEvent(failed=_end(state, "error"))
            if isinstance(exc, UnknownModel):
                raise AppError(ErrorCode.VALIDATION_ERROR, str(exc), {"field": "model"}) from None
            if isinstance(exc, ProviderError):
                from llm_orchestrator.servicer import to_app_error

                raise to_app_error(exc) from None
            raise


async def _step(router: Router, model: str, provider: str, messages: list[ChatMessage], params: GenParams):
    async for item in router.generate(model, provider, messages, params):
        if isinstance(item, Delta) and not item.text.isascii():
            item = Delta(unmark(valid_text(item.text)))  # as Generate: no lone surrogate, no datamark
        yield item


def _call(event: ToolCallStarted) -> llm_pb2.RunToolCall:
    c = event.call
    return llm_pb2.RunToolCall(id=c.id, name=c.name, arguments=c.arguments, step=event.step, needs_approval=event.needs_approval)


def _event(event) -> llm_pb2.RunEvent:
    if isinstance(event, ModelSelected):
        return llm_pb2.RunEvent(start=common_pb2.ModelSelected(provider=event.provider, model=event.model))
    if isinstance(event, ToolCallStarted):
        return llm_pb2.RunEvent(tool_call=_call(event))
    if isinstance(event, ToolObserved):
        return llm_pb2.RunEvent(tool_result=llm_pb2.RunToolResult(
            call_id=event.call.id, name=event.call.name, status=event.status, summary=event.summary,
            step=event.step))
    if isinstance(event, ApprovalNeeded):
        calls = [_call(ToolCallStarted(c, max(s.get("step", 0) for s in event.state.steps), True)) for c in event.calls]
        return llm_pb2.RunEvent(approval_required=llm_pb2.RunApproval(calls=calls, state=event.state.to_json()))
    if isinstance(event, StepSettled):
        r = event.record
        usage = common_pb2.Usage(prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
                                 total_tokens=r["prompt_tokens"] + r["completion_tokens"],
                                 cached_prompt_tokens=r["cached_prompt_tokens"], cost=cost_text(Decimal(r["cost"])) if r["cost"] else "")
        return llm_pb2.RunEvent(usage=llm_pb2.RunStepUsage(step=r["step"], provider=r["provider"], model=r["model"], usage=usage))
    if isinstance(event, RunEnded):
        return llm_pb2.RunEvent(end=_end(event.state, event.finish_reason))
    raise TypeError(f"unexpected run event {event!r}")


def _end(s: RunState, finish_reason: str) -> llm_pb2.RunEnd:
    """The run's usage, cost and steps so far (at its end, or before the error that ends it). A
    run that failed before any step settled has had nothing priced: its cost is unknown (""),
    not $0 (the step that failed may have been billed, and its text is counted by the caller)."""
    priced = not s.unpriced and any(step.get("type") == "model" for step in s.steps)
    usage = common_pb2.Usage(prompt_tokens=s.prompt_tokens, completion_tokens=s.completion_tokens, total_tokens=s.tokens,
                             cached_prompt_tokens=s.cached_prompt_tokens, cost=cost_text(s.cost) if priced else "")
    return llm_pb2.RunEnd(finish_reason=finish_reason, usage=usage, model_steps=s.model_steps, steps=orjson.dumps(s.steps).decode())
