"""Starting a chat turn for a person, for every route that starts one (POST /api/v1/chat and
/chat/stream, WS /ws/chat): the request checked and screened, the turn's limits taken, the
conversation service's stream opened; and for a streamed answer, its relay started (so every
way of following it reads the same events) and the SSE encoding of its events. `conn` is the
HTTP request or the WebSocket the person is on (for the audit log)."""

from __future__ import annotations

import dataclasses

from starlette.requests import HTTPConnection

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.llm.v1 import llm_pb2
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.timeutil import iso
from gateway.answers.relay import Relays
from gateway.api.schemas.chat import ChatIn, citation_out
from gateway.chat_stream import (
    ApprovalAsked, Citations, EventStream, Text, ToolCalled, ToolReturned, TurnCompleted, TurnEvent, TurnStarted, open_turn,
)
from gateway.grpc_clients import Downstream, caller_of
from gateway.guardrails import record_turn_event, screen_input
from gateway.limits.limiter import Limits, TurnGuard, begin_turn
from gateway.security import Principal
from gateway.settings import GatewaySettings
from gateway.sse import event as sse_event


def turn_request(body: ChatIn, principal: Principal, settings: GatewaySettings, request_id: str, conn_headers=None) -> pb.ChatRequest:
    if len(body.message) > settings.max_message_chars:
        raise AppError(
            ErrorCode.VALIDATION_ERROR, f"message is longer than {settings.max_message_chars} characters",
            {"field": "message", "limit": settings.max_message_chars},
        )
    if (body.edit_message_id or body.regenerate_message_id) and not body.conversation_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "editing or regenerating needs the conversation_id", {"field": "conversation_id"})
    if body.edit_message_id and body.regenerate_message_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "edit or regenerate, not both", {"field": "regenerate_message_id"})
    if body.regenerate_message_id and body.message:
        raise AppError(ErrorCode.VALIDATION_ERROR, "a regeneration answers the stored question: send no message", {"field": "message"})
    req = pb.ChatRequest(
        caller=caller_of(principal), message=body.message, conversation_id=body.conversation_id or "",
        model=body.model or "", provider=body.provider or "", request_id=request_id, system_prompt=body.system_prompt or "",
        edit_message_id=body.edit_message_id or "", regenerate_message_id=body.regenerate_message_id or "",
    )
    if body.temperature is not None:
        req.temperature = body.temperature
    if body.max_tokens is not None:
        req.max_tokens = body.max_tokens
    if body.use_rag is not None:
        req.use_rag = body.use_rag
    if body.cache is False or no_cache(conn_headers):
        req.cache = False
    if body.quality:
        req.quality = body.quality
    if body.tools:
        req.tools.extend(["auto"] if body.tools == "auto" else dict.fromkeys(body.tools))
    return req


def no_cache(headers) -> bool:
    """`Cache-Control: no-cache` or `no-store` on a request: the semantic cache neither answers nor keeps it."""
    value = (headers.get("cache-control") or "").lower() if headers is not None else ""
    return "no-cache" in value or "no-store" in value


async def tenant_allows_cache(conn: HTTPConnection, principal: Principal) -> bool:
    """False when the organisation's admin turned the semantic cache off (PATCH /admin/tenant)."""
    return (await conn.app.state.tenants.get(principal.tenant_id)).semantic_cache


def with_budget_left(req: pb.ChatRequest | llm_pb2.GenerateRequest, guard: TurnGuard) -> None:
    """Tells a routing alias how much of the caller's tightest token budget is left."""
    if guard.budget_left is not None:
        req.budget_left = guard.budget_left


async def screened_turn_request(body: ChatIn, conn: HTTPConnection, principal: Principal, settings: GatewaySettings) -> pb.ChatRequest:
    req = turn_request(body, principal, settings, getattr(conn.state, "request_id", ""), conn.headers)
    # The caller's system prompt reaches the model too: screened like the message.
    (req.message, req.system_prompt), req.injection_policy = await screen_input(
        conn, principal, [body.message, req.system_prompt], ["message", "instructions"])
    if not await tenant_allows_cache(conn, principal):
        req.cache = False
    # Checked once, here, on what is sent on (invisible characters removed): the conversation
    # service trusts it (conversation.proto).
    if not req.message.strip() and not req.regenerate_message_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "message must not be empty", {"field": "message"})
    return req


async def open_guarded(downstream: Downstream, req: pb.ChatRequest, settings: GatewaySettings,
                       guard: TurnGuard) -> tuple[EventStream[TurnEvent], TurnEvent]:
    """Opens the turn; if it cannot start, the limits it took are given back."""
    try:
        return await open_turn(downstream, req, settings.chat_timeout_seconds)
    except BaseException:
        await guard.finish(0)
        raise


def sse_encoded(event: TurnEvent) -> bytes | None:
    """The SSE encoding of one event of a streamed answer (None: not shown to the client)."""
    if isinstance(event, Text):
        return sse_event("token", {"token": event.text, "index": event.index})
    if isinstance(event, TurnCompleted):
        return sse_event("complete", {
            "finish_reason": event.finish_reason, "usage": dataclasses.asdict(event.usage), "total_tokens": event.usage.total,
            "model": event.model, "provider": event.provider, "conversation_id": event.conversation_id, "message_id": event.message_id,
            "latency_ms": event.latency_ms, "ttft_ms": event.ttft_ms, "timestamp": iso(event.created_at),
            **(event.spend.shown() if event.spend else {}),
        })
    if isinstance(event, Citations):
        return sse_event("citations", {"citations": [citation_out(c).model_dump() for c in event.citations]})
    if isinstance(event, TurnStarted):
        return sse_event("start", {"conversation_id": event.conversation_id, "user_message_id": event.user_message_id,
                                   "message_id": event.assistant_message_id})
    if isinstance(event, ModelSelected):
        return sse_event("model", {"provider": event.provider, "model": event.model})
    if isinstance(event, ToolCalled):
        return sse_event("tool_call", event.shown())
    if isinstance(event, ToolReturned):
        return sse_event("tool_result", event.shown())
    if isinstance(event, ApprovalAsked):
        return sse_event("approval_required", event.shown())
    return None


async def start_answer(body: ChatIn, conn: HTTPConnection, principal: Principal, settings: GatewaySettings, downstream: Downstream,
                       limits: Limits, relays: Relays) -> TurnStarted:
    """Starts a streamed answer: once this returns, the answer is being generated into its
    buffer, whoever follows it."""
    req = await screened_turn_request(body, conn, principal, settings)
    guard = await begin_turn(limits, principal, len(body.message), body.max_tokens, stream=True)
    with_budget_left(req, guard)
    stream, first = await open_guarded(downstream, req, settings, guard)
    try:
        if not isinstance(first, TurnStarted):  # the conversation service always starts with it
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service did not start the turn")
        await relays.start(first.assistant_message_id, principal.user_id, stream, guard, sse_encoded,
                           lambda e: record_turn_event(conn, principal, e), first.conversation_id)
    except BaseException:
        stream.cancel()
        await guard.finish(0)
        raise
    return first
