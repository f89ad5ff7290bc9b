"""POST /api/v1/chat and /api/v1/chat/stream: one turn through the conversation service."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, status
from fastapi.responses import StreamingResponse

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import id_pattern
from chatbot_common.timeutil import iso
from gateway.answers.relay import follow
from gateway.chat_turns import open_guarded, screened_turn_request, start_answer, with_budget_left
from gateway.api.deps import ChatCaller, DownstreamDep, LimitsDep, RelaysDep, SettingsDep
from gateway.api.schemas.chat import ChatIn, ChatOut, CitationOut, PendingApprovalOut, StopOut, TokensUsed, citation_out
from gateway.chat_stream import ApprovalAsked, Citations, GuardrailCaught, Text, TokenMeter, ToolCalled, ToolReturned, TurnCompleted, Usage
from gateway.guardrails import record_turn_event
from gateway.limits.limiter import begin_turn
from gateway.sse import SSE_HEADERS

router = APIRouter(tags=["chat"])


@router.post("/chat", response_model=ChatOut, summary="Send a message and get the whole answer")
async def chat(
    body: ChatIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep,
) -> ChatOut:
    req = await screened_turn_request(body, request, principal, settings)
    guard = await begin_turn(limits, principal, len(body.message), body.max_tokens, stream=False)
    with_budget_left(req, guard)
    stream, _ = await open_guarded(downstream, req, settings, guard)
    used = TokenMeter()
    parts: list[str] = []
    citations: list[CitationOut] = []
    steps: list[dict] = []
    pending: PendingApprovalOut | None = None
    try:
        async for event in stream:
            used.see(event)
            if isinstance(event, Text):
                parts.append(event.text)
            elif isinstance(event, Citations):
                citations = [citation_out(c) for c in event.citations]
            elif isinstance(event, GuardrailCaught):
                await record_turn_event(request, principal, event.event)
            elif isinstance(event, (ToolCalled, ToolReturned)):
                steps.append({"type": "tool_call" if isinstance(event, ToolCalled) else "tool_result", **event.shown()})
            elif isinstance(event, ApprovalAsked):
                pending = PendingApprovalOut(**event.shown())
            elif isinstance(event, TurnCompleted):
                return ChatOut(
                    id=event.message_id, conversation_id=event.conversation_id, content="".join(parts), tokens_used=_tokens(event.usage),
                    finish_reason=event.finish_reason, model=event.model, provider=event.provider, timestamp=iso(event.created_at),
                    latency_ms=event.latency_ms, ttft_ms=event.ttft_ms, citations=citations, steps=steps or None, pending_approval=pending,
                    **(event.spend.shown() if event.spend else {}),
                )
    finally:
        stream.cancel()
        await guard.finish(*used.settlement())
    raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service ended the turn without a result")


def _tokens(u: Usage) -> TokensUsed:
    return TokensUsed(prompt=u.prompt, completion=u.completion, total=u.total)


_STREAM_EVENTS = ("events: start (names the answer's message_id), model, citations, tool_call, tool_result, approval_required "
                  "(an agent run paused: POST /api/v1/runs/{run_id}/approval), token, complete; stopped when stopped; "
                  'error carries the one error shape {"error": {"code", "message", "details"}}. Every event has an id: '
                  "the answer can be followed again from any of them")


@router.post(
    "/chat/stream",
    summary="Stream an answer as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": _STREAM_EVENTS}},
)
async def chat_stream(
    body: ChatIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep,
    relays: RelaysDep,
) -> StreamingResponse:
    """The answer is generated whether or not the client stays: a client that leaves (a reload,
    a closed tab) comes back with GET /api/v1/chat/stream/{message_id}; POST .../stop stops it."""
    started = await start_answer(body, request, principal, settings, downstream, limits, relays)
    headers = {**SSE_HEADERS, "X-Conversation-Id": started.conversation_id, "X-Message-Id": started.assistant_message_id}
    return StreamingResponse(follow(relays.buffers, started.assistant_message_id, 0, settings.heartbeat_seconds),
                             media_type="text/event-stream", headers=headers)


MessageId = Annotated[str, Path(pattern=id_pattern("msg"), description="the answer's message id (the start event's message_id)")]


@router.get(
    "/chat/stream/{message_id}",
    summary="Follow an answer again: the events after Last-Event-ID, then the rest as it comes",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": _STREAM_EVENTS}},
)
async def resume_stream(
    message_id: MessageId, principal: ChatCaller, settings: SettingsDep, relays: RelaysDep,
    last_event_id: Annotated[str | None, Header(description="the id of the last event received; none: from the start")] = None,
) -> StreamingResponse:
    after = 0
    if last_event_id is not None and last_event_id.strip():
        if not re.fullmatch(r"[0-9]{1,9}", last_event_id.strip()):  # ASCII digits only ("²".isdigit() is True)
            raise AppError(ErrorCode.VALIDATION_ERROR, "Last-Event-ID must be an event id of this stream", {"field": "Last-Event-ID"})
        after = int(last_event_id)
    await relays.require_owner(message_id, principal.user_id)
    return StreamingResponse(follow(relays.buffers, message_id, after, settings.heartbeat_seconds), media_type="text/event-stream",
                             headers={**SSE_HEADERS, "X-Message-Id": message_id})


@router.post("/chat/stream/{message_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=StopOut,
             summary="Stop an answer in flight; the part generated so far is stored")
async def stop_stream(message_id: MessageId, principal: ChatCaller, relays: RelaysDep) -> StopOut:
    await relays.require_owner(message_id, principal.user_id)
    if not await relays.stop(message_id):
        raise AppError(ErrorCode.CONFLICT, "the answer has already ended")
    return StopOut(message_id=message_id, stopping=True)
