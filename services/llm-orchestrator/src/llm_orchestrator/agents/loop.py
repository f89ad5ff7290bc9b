"""The agent loop: a model step through the router (fallback, deadlines, breakers and pricing
apply to each), then the tool calls it asked for, validated and run (together when several),
their observations appended, and the next step, until the model answers without tools or a
bound is hit. A tool's failure is an observation for the model, never an error for the user.

A call of a sensitive tool does not run: the run pauses (its state goes out with the calls
that wait) and goes on once a person approved, denied or edited each one. A call whose
arguments disclose the system prompt never runs (agents.screen), and what the run's steps show
of any call (its arguments, an unknown tool's name, the start of its observation) passes the
output filter, the approval card (ApprovalNeeded) included: its real arguments stay in the
paused state only. Approved as-is, a call runs with them; an edit runs as typed, and one that
still holds a placeholder of the card is refused (ArgumentScreen.edited). Nothing here knows
gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from prometheus_client import Counter

from chatbot_common import tracing
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from llm_orchestrator.agents.limits import (
    AWAITING_APPROVAL, MAX_COST, MAX_STEPS, MAX_TIME, MAX_TOKENS, RunLimits, stopped_message,
)
from llm_orchestrator.agents.screen import BLOCKED, BLOCKED_OBSERVATION, ArgumentScreen
from llm_orchestrator.agents.state import RunState
from llm_orchestrator.pricing import TokenUse
from llm_orchestrator.providers.base import ChatMessage, Delta, End, GenParams, ToolCall
from llm_orchestrator.tools.base import Tool, ToolContext, ToolResult

STEPS = Counter("agent_steps_total", "Model steps of agent runs")
TOOL_CALLS = Counter("agent_tool_calls_total", "Tool calls of agent runs by tool and outcome", ["tool", "outcome"])
RUNS = Counter("agent_runs_total", "Agent runs (and paused runs' legs) ended, by finish reason", ["finish_reason"])

DENIED_OBSERVATION = "The user denied this call: it did not run. Go on without it."
NOT_DECIDED_OBSERVATION = "The user did not approve this call: it did not run. Go on without it."
SUMMARY_CHARS = 300  # of a tool's observation, shown to the client and stored with the steps

# What a model step asks of the router, and what prices a finished step.
Generate = Callable[[list[ChatMessage], GenParams], AsyncIterator[ModelSelected | Delta | ToolCall | End]]
Price = Callable[[str, str, TokenUse], Decimal | None]
# Validation (raises ToolError with a message for the model) and execution (never raises).
Check = Callable[[Tool, str], dict[str, Any]]
Execute = Callable[[Tool, dict[str, Any], ToolContext], Awaitable[ToolResult]]


@dataclass(frozen=True)
class ToolCallStarted:
    call: ToolCall
    step: int
    needs_approval: bool


@dataclass(frozen=True)
class ToolObserved:
    call: ToolCall
    step: int
    result: ToolResult
    status: str  # ok | error | invalid | denied | unknown_tool | blocked
    summary: str = ""  # the start of the observation, as people see it


@dataclass(frozen=True)
class ApprovalNeeded:
    calls: list[ToolCall]  # as people see them (redacted: see above)
    state: RunState


@dataclass(frozen=True)
class StepSettled:
    """A model step's usage and cost, as soon as the provider reported them: the step's record
    (provider, model, tokens, cost; see _settle). Goes out before the run does anything else, so
    what the step used reaches the caller whatever ends the run."""

    record: dict[str, Any]


@dataclass(frozen=True)
class RunEnded:
    finish_reason: str
    state: RunState


RunEvent = ModelSelected | Delta | StepSettled | ToolCallStarted | ToolObserved | ApprovalNeeded | RunEnded


@dataclass(frozen=True)
class Decision:
    action: str  # approve | deny | edit
    arguments: str = ""  # edit: the arguments to run with instead (JSON text)


class AgentLoop:
    def __init__(self, generate: Generate, price: Price, tools: Mapping[str, Tool], check: Check, execute: Execute,
                 limits: RunLimits, context: ToolContext, clock: Callable[[], float] = time.monotonic,
                 screen: ArgumentScreen | None = None) -> None:
        self._screen = screen
        self._generate = generate
        self._price = price
        self._tools = tools
        self._check = check
        self._execute = execute
        self.limits = limits
        self._context = context
        self._clock = clock

    def validate_decisions(self, state: RunState, decisions: Mapping[str, Decision]) -> dict[str, dict[str, Any] | None]:
        """The arguments each pending call runs with (None: denied), or a VALIDATION_ERROR naming
        what is wrong: a call that is not pending, an unknown action, edited arguments that do
        not fit the tool's schema or still hold a placeholder of the redacted card (an edit runs
        as typed: ArgumentScreen.edited). The refusal of an approved call's own arguments (its
        tool's schema changed while it waited) does not quote the checker: they may hold what
        the card hid."""
        pending = {c.id: c for c in state.pending}
        for call_id, decision in decisions.items():
            if call_id not in pending:
                raise AppError(ErrorCode.VALIDATION_ERROR, "no such call waits for approval in this run", {"field": "call_id"})
            if decision.action not in ("approve", "deny", "edit"):
                raise AppError(ErrorCode.VALIDATION_ERROR, "decision must be approve, deny or edit", {"field": "decision"})
        chosen: dict[str, dict[str, Any] | None] = {}
        for call in state.pending:
            decision = decisions.get(call.id)
            tool = self._tools.get(call.name)
            if decision is None or decision.action == "deny" or tool is None:
                chosen[call.id] = None
                continue
            arguments = call.arguments
            if decision.action == "edit":
                screen = self._screen
                arguments = screen.edited(decision.arguments) if screen is not None else decision.arguments
            try:
                chosen[call.id] = self._check(tool, arguments)
            except Exception as exc:  # noqa: BLE001 - the checker's message is for the person
                said = f": {exc}" if decision.action == "edit" else " (it changed while the call waited): edit the call or deny it"
                raise AppError(ErrorCode.VALIDATION_ERROR, f"the arguments do not fit the tool's schema{said}",
                               {"field": "arguments", "call_id": call.id}) from None
        return chosen

    async def run(self, state: RunState, params: GenParams, decisions: Mapping[str, Decision] | None = None) -> AsyncIterator[RunEvent]:
        """The run's events to its end, a bound, or a pause (ApprovalNeeded, then RunEnded)."""
        started, spent = self._clock(), state.elapsed
        chosen = self.validate_decisions(state, decisions or {}) if state.pending else {}

        def remaining() -> float:
            return self.limits.max_seconds - (spent + self._clock() - started)

        def ended(reason: str) -> RunEnded:
            state.elapsed = spent + self._clock() - started
            RUNS.labels(reason).inc()
            return RunEnded(reason, state)

        params = replace(params, tools=tuple(t.spec for t in self._tools.values()))
        span = _span("invoke_agent", {"gen_ai.operation.name": "invoke_agent", "chatbot.agent.resumed": bool(state.pending)})
        with span:
            if state.pending:
                async for event in self._decided(state, chosen, decisions or {}):
                    yield event
            timed_out = False
            while True:
                reason = MAX_TIME if timed_out else self._bound(state, remaining())
                if reason:
                    text = stopped_message(reason, self.limits)
                    yield Delta(text)
                    state.messages.append(ChatMessage("assistant", text))
                    yield ended(reason)
                    return
                calls, finish_reason = None, ""
                async for event in self._step(state, params, remaining):
                    if isinstance(event, tuple):
                        calls, finish_reason = event
                    else:
                        yield event
                if finish_reason == MAX_TIME:
                    timed_out = True
                    continue
                if params.tool_choice not in ("auto", "none"):
                    # A forced call ("required", or a tool's name) is the first step's: forced on
                    # every step, the model could never answer.
                    params = replace(params, tool_choice="auto")
                if not calls:
                    yield ended(finish_reason)
                    return
                step = state.model_steps
                if self._screen is not None:  # off the event loop when large, before anything shows or runs them
                    await self._screen.prepare(*(c.arguments for c in calls), *(c.name for c in calls if c.name not in self._tools))
                for call in calls:
                    tool = self._tools.get(call.name)
                    yield ToolCallStarted(self._shown(call), step, bool(tool is not None and tool.sensitive))
                results, waiting = await self._run_calls(calls, step, remaining())
                for observed in results:
                    yield observed
                    self.record(state, observed)
                if waiting:
                    state.pending = waiting
                    for call in waiting:
                        state.steps.append({"type": "tool", "step": step, "call_id": call.id, "name": call.name,
                                            "arguments": self._shown(call).arguments, "status": "awaiting_approval"})
                    yield ApprovalNeeded([self._shown(c) for c in waiting], state)
                    yield ended(AWAITING_APPROVAL)
                    return

    def _bound(self, state: RunState, remaining: float) -> str:
        limits = self.limits
        if remaining <= 0:
            return MAX_TIME
        if state.model_steps >= limits.max_steps:
            return MAX_STEPS
        if state.tokens >= limits.max_tokens:
            return MAX_TOKENS
        if limits.max_cost is not None and not state.unpriced and state.cost >= limits.max_cost:
            return MAX_COST
        return ""

    async def _step(self, state: RunState, params: GenParams,
                    remaining: Callable[[], float]) -> AsyncIterator[ModelSelected | Delta | StepSettled | tuple[list[ToolCall], str]]:
        """One model call: its text as it comes, its usage (StepSettled, once the provider reported
        it), then (as a tuple) the calls it asked for and its finish reason (MAX_TIME when the
        run's time ran out first: the step is dropped). The step's usage and cost join the run's. The deadline bounds each wait for the provider,
        never the caller's handling of an event."""
        state.model_steps += 1
        STEPS.inc()
        index = state.model_steps
        selected: ModelSelected | None = None
        parts: list[str] = []
        calls: list[ToolCall] = []
        with _span(f"agent_step {index}", {"gen_ai.operation.name": "chat", "chatbot.agent.step": index}):
            stream = self._generate(list(state.messages), params)
            try:
                while True:
                    try:
                        async with asyncio.timeout(remaining()):
                            item = await anext(stream)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        yield [], MAX_TIME
                        return
                    if isinstance(item, Delta):
                        parts.append(item.text)
                        yield item
                    elif isinstance(item, ToolCall):
                        calls.append(item)
                    elif isinstance(item, ModelSelected):
                        if selected is None or selected != item:
                            yield item
                        selected = item
                    elif isinstance(item, End):
                        calls = unique_ids(calls, state.messages)
                        record = self._settle(state, index, selected, item, len(calls))
                        state.messages.append(ChatMessage("assistant", "".join(parts), tuple(calls)))
                        yield StepSettled(dict(record))
                        yield calls, item.finish_reason
                        return
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()
        raise AppError(ErrorCode.LLM_PROVIDER_ERROR, "the model stream ended without a result")

    def _settle(self, state: RunState, index: int, selected: ModelSelected | None, end: End, calls: int) -> dict[str, Any]:
        u = end.usage
        state.prompt_tokens += u.prompt_tokens
        state.completion_tokens += u.completion_tokens
        state.cached_prompt_tokens += u.cached_prompt_tokens
        cost = self._price(selected.provider, selected.model, TokenUse(u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens)) \
            if selected else None
        if cost is None:
            state.unpriced = True
        else:
            state.cost += cost
        record = {
            "type": "model", "step": index, "provider": selected.provider if selected else "", "model": selected.model if selected else "",
            "finish_reason": end.finish_reason, "tool_calls": calls, "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens, "cached_prompt_tokens": u.cached_prompt_tokens,
            "cost": str(cost) if cost is not None else "",
        }
        state.steps.append(record)
        return record

    async def _run_calls(self, calls: list[ToolCall], step: int, remaining: float) -> tuple[list[ToolObserved], list[ToolCall]]:
        """Runs the calls that need no person (together), and returns their observations in the
        model's order with the calls that wait for approval. Arguments are checked first: a
        call with bad ones never runs, nor is a person asked about it."""
        observed: dict[str, ToolObserved] = {}
        runnable: list[tuple[ToolCall, Tool, dict[str, Any]]] = []
        waiting: list[ToolCall] = []
        for call in calls:
            tool = self._tools.get(call.name)
            if tool is None:
                known = ", ".join(sorted(self._tools)) or "none"
                observed[call.id] = self._observe(call, step, ToolResult(f"Unknown tool {call.name!r}. Tools available: {known}.", True),
                                                  "unknown_tool")
                continue
            if self._screen is not None and self._screen.leaks(call.arguments):
                observed[call.id] = self._observe(call, step, ToolResult(BLOCKED_OBSERVATION, True), BLOCKED)
                continue
            try:
                arguments = self._check(tool, call.arguments)
            except Exception as exc:  # noqa: BLE001 - every failure is the model's observation
                observed[call.id] = self._observe(call, step, ToolResult(f"Invalid arguments: {exc}", True), "invalid")
                continue
            if tool.sensitive:
                waiting.append(call)
            else:
                runnable.append((call, tool, arguments))
        results = await asyncio.gather(*(self._call(tool, call, arguments, remaining) for call, tool, arguments in runnable))
        for (call, _, _), result in zip(runnable, results, strict=True):
            observed[call.id] = self._observe(call, step, result, "error" if result.is_error else "ok")
        return [observed[c.id] for c in calls if c.id in observed], waiting

    async def _call(self, tool: Tool, call: ToolCall, arguments: dict[str, Any], remaining: float) -> ToolResult:
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id}
        with _span(f"execute_tool {call.name}", attributes) as span:
            try:
                async with asyncio.timeout(max(remaining, 0.001)):
                    result = await self._execute(tool, arguments, self._context)
            except TimeoutError:
                result = ToolResult("The tool did not finish within the run's time limit.", True)
            if result.is_error and span is not None:
                span.set_attribute("error.type", "tool_error")
            return result

    def _observe(self, call: ToolCall, step: int, result: ToolResult, status: str) -> ToolObserved:
        TOOL_CALLS.labels(call.name if call.name in self._tools else "unknown", status).inc()
        summary = result.content[:SUMMARY_CHARS]
        # (An unknown tool's observation names the tool as the model wrote it.)
        return ToolObserved(self._named(call), step, result, status,
                            self._screen.shown_text(summary) if self._screen is not None else summary)

    async def _decided(self, state: RunState, chosen: dict[str, dict[str, Any] | None],
                       decisions: Mapping[str, Decision]) -> AsyncIterator[RunEvent]:
        """The person's decisions carried out: approved calls run (together), the others become
        observations saying they did not run; the steps record each decision."""
        remaining = self.limits.max_seconds - state.elapsed
        pending, state.pending = state.pending, []
        step = max((s.get("step", 0) for s in state.steps), default=0)
        runs = [(c, self._tools[c.name], chosen[c.id]) for c in pending if chosen.get(c.id) is not None]
        if self._screen is not None:  # a restarted orchestrator's screen has seen none of them
            edits = [d.arguments for d in decisions.values() if d.action == "edit"]
            await self._screen.prepare(*(c.arguments for c in pending), typed=edits)
        # Each approved call is announced before it runs, with the arguments it runs with: the
        # caller's sign that the decisions were taken. A resumed run that fails before this
        # arrives ran nothing (the caller may let the person decide again); after it, a tool
        # may have acted, and the decision stands.
        for call, _, _ in runs:
            decision = decisions.get(call.id)
            edited = decision is not None and decision.action == "edit"
            yield ToolCallStarted(replace(call, arguments=self._redacted(decision.arguments)) if edited else self._shown(call), step, False)
        results = dict(zip([c.id for c, _, _ in runs],
                           await asyncio.gather(*(self._call(tool, c, args, remaining) for c, tool, args in runs)), strict=True))
        for call in pending:
            decision = decisions.get(call.id)
            if call.id in results:
                result = results[call.id]
                observed = self._observe(call, step, result, "error" if result.is_error else "ok")
                action = decision.action if decision else "approve"
            else:
                text = DENIED_OBSERVATION if decision is not None else NOT_DECIDED_OBSERVATION
                observed = self._observe(call, step, ToolResult(text, True), "denied")
                action = "deny"
            for record in state.steps:
                if record.get("type") == "tool" and record.get("call_id") == call.id:
                    record["decision"] = action
                    if action == "edit":
                        record["arguments"] = self._redacted(decisions[call.id].arguments)
            yield observed
            self.record(state, observed)

    def record(self, state: RunState, observed: ToolObserved) -> None:
        """The observation joins the transcript and the steps."""
        call, result = observed.call, observed.result
        state.messages.append(ChatMessage("tool", result.content, tool_call_id=call.id, name=call.name))
        for record in state.steps:
            if record.get("type") == "tool" and record.get("call_id") == call.id:
                record.update(status=observed.status, summary=observed.summary)
                return
        state.steps.append({"type": "tool", "step": observed.step, "call_id": call.id, "name": call.name,
                            "arguments": self._shown(call).arguments, "status": observed.status, "summary": observed.summary})

    def _shown(self, call: ToolCall) -> ToolCall:
        """The call as the run's steps show it (tool_call events, the stored steps)."""
        return replace(self._named(call), arguments=self._screen.shown(call.arguments)) if self._screen is not None else call

    def _named(self, call: ToolCall) -> ToolCall:
        """The call with its name as people see it: an unknown tool's is the model's writing."""
        if self._screen is None or call.name in self._tools:
            return call
        return replace(call, name=self._screen.shown_name(call.name))

    def _redacted(self, arguments: str) -> str:
        return self._screen.redacted(arguments) if self._screen is not None else arguments


def unique_ids(calls: list[ToolCall], transcript: list[ChatMessage]) -> list[ToolCall]:
    """The step's calls, each with an id no other call of the run has. A person's decision, a
    call's observation and its step record are all found by id: two calls sharing one (some
    OpenAI-compatible servers number calls per answer, call_0, call_1, ...) would let one
    approval run both, with one call's arguments, or an edit checked against one tool's schema
    run another tool."""
    seen = {c.id for m in transcript for c in m.tool_calls}
    out = []
    for call in calls:
        if not call.id or call.id in seen:
            call = replace(call, id=f"call_{uuid.uuid4().hex[:24]}")
        seen.add(call.id)
        out.append(call)
    return out


class _NoSpan:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


def _span(name: str, attributes: dict[str, Any]):
    """A span around a run, a step or a tool call (GenAI conventions; never arguments or results)."""
    if not tracing.enabled():
        return _NoSpan()
    return tracing.tracer(__name__).start_as_current_span(name, attributes=attributes)
