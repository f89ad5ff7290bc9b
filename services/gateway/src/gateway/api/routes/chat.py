"""POST /api/v1/chat and /api/v1/chat/stream: one turn through the conversation service."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, status
from fastapi.responses import StreamingResponse

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.ids import id_pattern
from chatbot_common.timeutil import iso
from gateway.answers.relay import Relays, follow
from gateway.api.deps import ChatCaller, DownstreamDep, LimitsDep, RelaysDep, SettingsDep, caller_pb
from gateway.api.schemas.chat import ChatIn, ChatOut, CitationOut, StopOut, TokensUsed, citation_out
from gateway.chat_stream import Citations, GuardrailCaught, Text, TurnCompleted, TurnStarted, Usage, open_turn
from gateway.guardrails import record_turn_event, screen_input
from gateway.limits.limiter import TurnGuard, begin_turn
from gateway.sse import SSE_HEADERS
from gateway.sse import event as sse_event

router = APIRouter(tags=["chat"])


def _request(body: ChatIn, principal, settings, request_id: str) -> pb.ChatRequest:
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
        caller=caller_pb(principal), message=body.message, conversation_id=body.conversation_id or "",
        model=body.model or "", provider=body.provider or "", request_id=request_id, system_prompt=body.system_prompt or "",
        edit_message_id=body.edit_message_id or "", regenerate_message_id=body.regenerate_message_id or "",
    )
    if body.temperature is not None:
        req.temperature = body.temperature
    if body.max_tokens is not None:
        req.max_tokens = body.max_tokens
    if body.use_rag is not None:
        req.use_rag = body.use_rag
    return req


async def _screened_request(body: ChatIn, request: Request, principal, settings) -> pb.ChatRequest:
    req = _request(body, principal, settings, request.state.request_id)
    # The caller's system prompt reaches the model too: screened like the message.
    (req.message, req.system_prompt), req.injection_policy = await screen_input(
        request, principal, [body.message, req.system_prompt], ["message", "instructions"])
    # Checked once, here, on what is sent on (invisible characters removed): the conversation
    # service trusts it (conversation.proto).
    if not req.message.strip() and not req.regenerate_message_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "message must not be empty", {"field": "message"})
    return req


async def _open(downstream, req: pb.ChatRequest, settings, guard: TurnGuard):
    try:
        return await open_turn(downstream, req, settings.chat_timeout_seconds)
    except BaseException:
        await guard.finish(0)
        raise


@router.post("/chat", response_model=ChatOut, summary="Send a message and get the whole answer")
async def chat(
    body: ChatIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep,
) -> ChatOut:
    req = await _screened_request(body, request, principal, settings)
    guard = await begin_turn(limits, principal, len(body.message), body.max_tokens, stream=False)
    stream, _ = await _open(downstream, req, settings, guard)
    used: int | None = 0
    parts: list[str] = []
    citations: list[CitationOut] = []
    try:
        async for event in stream:
            if isinstance(event, Text):
                parts.append(event.text)
                used = None  # tokens were spent; the real count comes with the completion
            elif isinstance(event, Citations):
                citations = [citation_out(c) for c in event.citations]
            elif isinstance(event, GuardrailCaught):
                await record_turn_event(request, principal, event.event)
            elif isinstance(event, TurnCompleted):
                used = event.usage.total
                return ChatOut(
                    id=event.message_id, conversation_id=event.conversation_id, content="".join(parts), tokens_used=_tokens(event.usage),
                    finish_reason=event.finish_reason, model=event.model, provider=event.provider, timestamp=iso(event.created_at),
                    latency_ms=event.latency_ms, ttft_ms=event.ttft_ms, citations=citations,
                )
    finally:
        stream.cancel()
        await guard.finish(used)
    raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service ended the turn without a result")


def _tokens(u: Usage) -> TokensUsed:
    return TokensUsed(prompt=u.prompt, completion=u.completion, total=u.total)


def _sse_event(event) -> bytes | None:
    """The SSE encoding of one event (None: not shown to the client)."""
    if isinstance(event, Text):
        return sse_event("token", {"token": event.text, "index": event.index})
    if isinstance(event, TurnCompleted):
        return sse_event("complete", {
            "finish_reason": event.finish_reason, "usage": dataclasses.asdict(event.usage), "total_tokens": event.usage.total,
            "model": event.model, "provider": event.provider, "conversation_id": event.conversation_id, "message_id": event.message_id,
            "latency_ms": event.latency_ms, "ttft_ms": event.ttft_ms, "timestamp": iso(event.created_at),
        })
    if isinstance(event, Citations):
        return sse_event("citations", {"citations": [citation_out(c).model_dump() for c in event.citations]})
    if isinstance(event, TurnStarted):
        return sse_event("start", {"conversation_id": event.conversation_id, "user_message_id": event.user_message_id,
                                   "message_id": event.assistant_message_id})
    if isinstance(event, ModelSelected):
        return sse_event("model", {"provider": event.provider, "model": event.model})
    return None


_STREAM_EVENTS = ("events: start (names the answer's message_id), model, citations, token, complete; stopped when stopped; "
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
    req = await _screened_request(body, request, principal, settings)
    guard = await begin_turn(limits, principal, len(body.message), body.max_tokens, stream=True)
    stream, first = await _open(downstream, req, settings, guard)
    if not isinstance(first, TurnStarted):  # the conversation service always starts with it
        stream.cancel()
        await guard.finish(0)
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service did not start the turn")
    message_id = first.assistant_message_id
    try:
        await relays.start(message_id, principal.user_id, stream, guard, _sse_event, lambda e: record_turn_event(request, principal, e))
    except BaseException:
        stream.cancel()
        await guard.finish(0)
        raise
    headers = {**SSE_HEADERS, "X-Conversation-Id": first.conversation_id, "X-Message-Id": message_id}
    return StreamingResponse(follow(relays.buffers, message_id, 0, settings.heartbeat_seconds), media_type="text/event-stream",
                             headers=headers)


MessageId = Annotated[str, Path(pattern=id_pattern("msg"), description="the answer's message id (the start event's message_id)")]


async def _owned(relays: Relays, message_id: str, principal) -> None:
    if await relays.buffers.owner(message_id) != principal.user_id:
        raise AppError(ErrorCode.NOT_FOUND, "no answer in flight with this id (a finished answer is in its conversation's messages)")


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
        if not last_event_id.strip().isdigit() or len(last_event_id.strip()) > 9:
            raise AppError(ErrorCode.VALIDATION_ERROR, "Last-Event-ID must be an event id of this stream", {"field": "Last-Event-ID"})
        after = int(last_event_id)
    await _owned(relays, message_id, principal)
    return StreamingResponse(follow(relays.buffers, message_id, after, settings.heartbeat_seconds), media_type="text/event-stream",
                             headers={**SSE_HEADERS, "X-Message-Id": message_id})


@router.post("/chat/stream/{message_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=StopOut,
             summary="Stop an answer in flight; the part generated so far is stored")
async def stop_stream(message_id: MessageId, principal: ChatCaller, relays: RelaysDep) -> StopOut:
    await _owned(relays, message_id, principal)
    if not await relays.stop(message_id):
        raise AppError(ErrorCode.CONFLICT, "the answer has already ended")
    return StopOut(message_id=message_id, stopping=True)
