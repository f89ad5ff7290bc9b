"""The two streams a chat answer comes from, each read in one place into typed events that every
wire format the gateway writes is encoded from: the conversation service's Chat stream
(`/api/v1/chat`, `/api/v1/chat/stream`) and the llm-orchestrator's Generate stream (`/v1`).

A route opens a stream, iterates its events and encodes them; no route reads gRPC messages.
Opening waits for the first event, so that an error found before anything was generated
(unknown conversation or model, a service down) still gets a real HTTP status. Failed calls
raise `AppError` (the stubs are wrapped), at the start or in the middle of a stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import grpc

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2
from chatbot.llm.v1 import llm_pb2
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.timeutil import iso
from gateway.grpc_clients import Downstream


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """The user's message is stored (in a new conversation, if none was named)."""

    conversation_id: str
    user_message_id: str
    assistant_message_id: str


@dataclass(frozen=True, slots=True)
class Citations:
    citations: list[common_pb2.Citation]


@dataclass(frozen=True, slots=True)
class Text:
    """A piece of the answer; `index` counts the pieces of one stream from 0."""

    text: str
    index: int


@dataclass(frozen=True, slots=True)
class GuardrailCaught:
    """Something a guardrail caught during the turn, for the audit log."""

    event: conversation_pb2.GuardrailEvent


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """The model asked for a tool (an agent run); `needs_approval`: it waits for a person."""

    call_id: str
    name: str
    arguments: str
    step: int
    needs_approval: bool

    def shown(self) -> dict:
        return {"call_id": self.call_id, "name": self.name, "arguments": self.arguments, "step": self.step,
                "needs_approval": self.needs_approval}


@dataclass(frozen=True, slots=True)
class ToolReturned:
    call_id: str
    name: str
    status: str  # ok | error | invalid | unknown_tool | denied | blocked
    summary: str
    step: int

    def shown(self) -> dict:
        return {"call_id": self.call_id, "name": self.name, "status": self.status, "summary": self.summary, "step": self.step}


@dataclass(frozen=True, slots=True)
class ApprovalAsked:
    """The run paused before sensitive calls: POST /api/v1/runs/{run_id}/approval goes on."""

    run_id: str
    calls: list[ToolCalled]
    expires_at: datetime

    def shown(self) -> dict:
        return {"run_id": self.run_id, "calls": [c.shown() for c in self.calls], "expires_at": iso(self.expires_at)}


def tool_called(c: conversation_pb2.ToolCallEvent) -> ToolCalled:
    return ToolCalled(c.call_id, c.name, c.arguments, c.step, c.needs_approval)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt: int
    completion: int
    total: int


@dataclass(frozen=True, slots=True)
class TurnCompleted:
    """The answer is stored; nothing follows."""

    message_id: str
    conversation_id: str
    finish_reason: str
    usage: Usage
    provider: str
    model: str
    latency_ms: int
    ttft_ms: int
    created_at: datetime
    spend: Spend | None = None


@dataclass(frozen=True, slots=True)
class Spend:
    """What an answer cost and how it was served (the orchestrator prices it where the model is known)."""

    cost: str  # USD decimal string; "": unknown (the model has no price)
    cached_prompt_tokens: int = 0
    cached: bool = False  # from the semantic cache
    saved_cost: str = ""  # for a cached answer: what it cost when generated
    route: dict | None = None  # a routing alias's choice: alias, tier, target, reason

    def shown(self) -> dict:
        """The fields an answer shows its client (complete event, /api/v1/chat, /v1)."""
        return {"cost": self.cost or None, "cached": self.cached, "route": self.route}


def spend_of(usage: common_pb2.Usage, served: common_pb2.Served) -> Spend:
    route = None
    if served.HasField("route"):
        r = served.route
        route = {"alias": r.alias, "tier": r.tier, "target": r.target, "reason": r.reason}
    return Spend(usage.cost, usage.cached_prompt_tokens, served.cached, served.saved_cost, route)


@dataclass(frozen=True, slots=True)
class GenerationEnded:
    """The generation is over; nothing follows."""

    finish_reason: str
    usage: Usage
    spend: Spend | None = None


@dataclass(frozen=True, slots=True)
class Spent:
    """What the turn has used so far (an agent run's settled model steps, this leg's total)."""

    total: int


class TokenMeter:
    """The tokens a turn used, read from its events, to settle its token reservation with
    (`TurnGuard.finish(*meter.settlement())`): the completion's count when it comes; before
    that, the running total of an agent run's settled steps (TurnSpent), plus the estimate when
    anything was generated past that total (text, a tool step, a pause: a step under way, its
    prompt billed whether or not it finishes); a turn stopped before generating anything used
    nothing.

    A resumed leg (`resumed`) is charged what it added: its completion carries the whole run's
    usage, earlier legs included, which were charged when they ended; the leg's own is its last
    running total (the estimate when it sent none)."""

    __slots__ = ("beyond", "final", "known", "resumed")

    def __init__(self, resumed: bool = False) -> None:
        self.resumed = resumed
        self.known = 0
        self.beyond = False
        self.final: int | None = None

    def see(self, event: TurnEvent) -> None:
        if isinstance(event, TurnCompleted):
            self.final = event.usage.total
            self.beyond = False
        elif isinstance(event, Spent):
            self.known, self.beyond = event.total, False
        elif isinstance(event, (Text, ToolCalled, ToolReturned, ApprovalAsked)):
            self.beyond = True

    def settlement(self) -> tuple[int | None, int]:
        """(the tokens used, None: unknown; what is known beyond the estimate when unknown)."""
        if self.final is not None and not self.resumed:
            return self.final, 0
        if self.final is not None:
            return (self.known, 0) if self.known else (None, 0)
        if self.beyond:
            return None, self.known
        return self.known, 0


@dataclass(frozen=True, slots=True)
class CallAsked:
    """A generation's tool call (complete), after its text and before the end: for the caller to run (/v1)."""

    id: str
    name: str
    arguments: str


TurnEvent = (TurnStarted | ModelSelected | Citations | Text | GuardrailCaught | TurnCompleted | ToolCalled | ToolReturned | ApprovalAsked
             | Spent)
GenerationEvent = ModelSelected | Text | CallAsked | GenerationEnded
E = TypeVar("E")


def _usage(u: common_pb2.Usage) -> Usage:
    return Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)


def _turn_event(reply: conversation_pb2.ChatEvent) -> TurnEvent:
    kind = reply.WhichOneof("event")
    if kind == "token":
        return Text(reply.token.text, reply.token.index)
    if kind == "started":
        return TurnStarted(reply.started.conversation_id, reply.started.user_message_id, reply.started.assistant_message_id)
    if kind == "model":
        return ModelSelected(reply.model.provider, reply.model.model)
    if kind == "citations":
        return Citations(list(reply.citations.citations))
    if kind == "guardrail":
        return GuardrailCaught(reply.guardrail)
    if kind == "tool_call":
        return tool_called(reply.tool_call)
    if kind == "tool_result":
        r = reply.tool_result
        return ToolReturned(r.call_id, r.name, r.status, r.summary, r.step)
    if kind == "approval_required":
        a = reply.approval_required
        return ApprovalAsked(a.run_id, [tool_called(c) for c in a.calls], a.expires_at.ToDatetime(tzinfo=UTC))
    if kind == "spent":
        return Spent(reply.spent.usage.total_tokens)
    if kind == "completed":
        done = reply.completed
        return TurnCompleted(done.message_id, done.conversation_id, done.finish_reason, _usage(done.usage), done.provider, done.model,
                             done.latency_ms, done.ttft_ms, done.created_at.ToDatetime(tzinfo=UTC), spend_of(done.usage, done.served))
    raise AppError(ErrorCode.SERVICE_UNAVAILABLE, f"unexpected chat event {kind!r} from the conversation service")


class _GenerationEvents:
    """Generate's replies as events; deltas are numbered as they come."""

    __slots__ = ("_index",)

    def __init__(self) -> None:
        self._index = 0

    def __call__(self, reply: llm_pb2.GenerateResponse) -> GenerationEvent:
        kind = reply.WhichOneof("event")
        if kind == "delta":
            self._index += 1
            return Text(reply.delta.text, self._index - 1)
        if kind == "start":
            return ModelSelected(reply.start.provider, reply.start.model)
        if kind == "end":
            return GenerationEnded(reply.end.finish_reason, _usage(reply.end.usage), spend_of(reply.end.usage, reply.end.served))
        if kind == "tool_call":
            return CallAsked(reply.tool_call.id, reply.tool_call.name, reply.tool_call.arguments)
        raise AppError(ErrorCode.LLM_PROVIDER_ERROR, f"unexpected generation event {kind!r}")


class EventStream(Generic[E]):
    """A started call read as typed events (the ones read while opening come first).
    `cancel()` stops the work upstream: call it when done, and when the client has gone."""

    def __init__(self, call: Any, convert: Callable[[Any], E], read: list[E]) -> None:
        self._call = call
        self._convert = convert
        self._read = read

    def cancel(self) -> None:
        self._call.cancel()

    async def __aiter__(self) -> AsyncIterator[E]:
        read, self._read = self._read, []
        for event in read:
            yield event
        while (reply := await self._call.read()) is not grpc.aio.EOF:
            yield self._convert(reply)


async def _first(call: Any) -> Any:
    try:
        return await call.read()
    except BaseException:
        call.cancel()
        raise


async def open_turn(downstream: Downstream, request: conversation_pb2.ChatRequest, timeout: float) -> tuple[EventStream[TurnEvent], TurnEvent]:
    """Starts a turn; returns its stream and its first event (already in the stream too)."""
    call = downstream.conversation.Chat(request, timeout=timeout)
    first = await _first(call)
    if first is grpc.aio.EOF:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service ended the turn early")
    event = _turn_event(first)
    return EventStream(call, _turn_event, [event]), event


async def open_resumed(downstream: Downstream, request: conversation_pb2.ResumeRunRequest,
                       timeout: float) -> tuple[EventStream[TurnEvent], TurnEvent]:
    """Goes on with a paused run; returns its stream and its first event (a TurnStarted)."""
    call = downstream.conversation.ResumeRun(request, timeout=timeout)
    first = await _first(call)
    if first is grpc.aio.EOF:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service ended the run early")
    event = _turn_event(first)
    return EventStream(call, _turn_event, [event]), event


async def open_generation(downstream: Downstream, request: llm_pb2.GenerateRequest,
                          timeout: float) -> tuple[EventStream[GenerationEvent], ModelSelected]:
    """Starts a generation and waits for its start (sent with the first token, so provider
    errors before any token still get a real HTTP status). The event after it, already on its
    way, is read too, so that the first token can leave with the response's first bytes."""
    call = downstream.llm.Generate(request, timeout=timeout)
    convert = _GenerationEvents()
    start = await _first(call)
    if start is grpc.aio.EOF or start.WhichOneof("event") != "start":
        call.cancel()
        raise AppError(ErrorCode.LLM_PROVIDER_ERROR, "the model stream did not start")
    following = await _first(call)
    return EventStream(call, convert, [] if following is grpc.aio.EOF else [convert(following)]), convert(start)
