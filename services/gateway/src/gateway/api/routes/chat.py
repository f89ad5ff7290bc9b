"""POST /api/v1/chat and /api/v1/chat/stream: one turn through the conversation service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Annotated

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import id_pattern
from chatbot_common.timeutil import iso
from gateway.api.deps import ChatCaller, DownstreamDep, LimitsDep, SettingsDep, caller_pb
from gateway.api.schemas.chat import CitationOut, citation_out
from gateway.guardrails import record_turn_event, screen_input
from gateway.limits.limiter import TurnGuard, begin_turn
from gateway.sse import SSE_HEADERS, HEARTBEAT, event, with_heartbeats

router = APIRouter(tags=["chat"])

ModelName = Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9._:/@-]*$")]


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The user's message", examples=["Explain RAG architecture"])
    conversation_id: str | None = Field(None, pattern=id_pattern("conv"), description="Omit to start a new conversation")
    provider: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z0-9_-]*$")] | None = None
    model: ModelName | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=32_768)
    use_rag: bool | None = None
    system_prompt: str | None = Field(None, max_length=8_000, description="Only used when a new conversation starts")


class TokensUsed(BaseModel):
    prompt: int
    completion: int
    total: int


class ChatOut(BaseModel):
    id: str
    conversation_id: str
    role: str = "assistant"
    content: str
    tokens_used: TokensUsed
    finish_reason: str
    model: str
    provider: str
    timestamp: str
    latency_ms: int
    ttft_ms: int
    citations: list[CitationOut] = Field(default_factory=list, description="the sources the answer was grounded in")


def _request(body: ChatIn, principal, settings, request_id: str) -> pb.ChatRequest:
    if not body.message.strip():
        raise AppError(ErrorCode.VALIDATION_ERROR, "message must not be empty", {"field": "message"})
    if len(body.message) > settings.max_message_chars:
        raise AppError(
            ErrorCode.VALIDATION_ERROR, f"message is longer than {settings.max_message_chars} characters",
            {"field": "message", "limit": settings.max_message_chars},
        )
    req = pb.ChatRequest(
        caller=caller_pb(principal), message=body.message, conversation_id=body.conversation_id or "",
        model=body.model or "", provider=body.provider or "", request_id=request_id, system_prompt=body.system_prompt or "",
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
    return req


async def _open_turn(downstream, req: pb.ChatRequest, timeout: float):
    """Starts the turn and waits for its first event, so that errors found before anything
    was generated (unknown conversation, bad model, services down) get a real HTTP status."""
    call = downstream.conversation.Chat(req, timeout=timeout)
    first = await call.read()
    if first is grpc.aio.EOF:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service ended the turn early")
    return call, first


@router.post("/chat", response_model=ChatOut, summary="Send a message and get the whole answer")
async def chat(
    body: ChatIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep,
) -> ChatOut:
    req = await _screened_request(body, request, principal, settings)
    guard = await begin_turn(limits, principal, len(body.message), body.max_tokens, stream=False)
    used: int | None = 0
    try:
        call, first = await _open_turn(downstream, req, settings.chat_timeout_seconds)
    except BaseException:
        await guard.finish(0)
        raise
    parts: list[str] = []
    citations: list[CitationOut] = []
    try:
        event_msg = first
        while event_msg is not grpc.aio.EOF:
            kind = event_msg.WhichOneof("event")
            if kind == "token":
                parts.append(event_msg.token.text)
                used = None  # tokens were spent; the real count comes with `completed`
            elif kind == "citations":
                citations = [citation_out(c) for c in event_msg.citations.citations]
            elif kind == "guardrail":
                await record_turn_event(request, principal, event_msg.guardrail)
            elif kind == "completed":
                done = event_msg.completed
                u = done.usage
                used = u.total_tokens
                return ChatOut(
                    id=done.message_id, conversation_id=done.conversation_id, content="".join(parts),
                    tokens_used=TokensUsed(prompt=u.prompt_tokens, completion=u.completion_tokens, total=u.total_tokens),
                    finish_reason=done.finish_reason, model=done.model, provider=done.provider,
                    timestamp=iso(done.created_at.ToDatetime(tzinfo=UTC)), latency_ms=done.latency_ms, ttft_ms=done.ttft_ms,
                    citations=citations,
                )
            event_msg = await call.read()
    finally:
        call.cancel()
        await guard.finish(used)
    raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service ended the turn without a result")


async def _sse(call, first, heartbeat: float, guard: TurnGuard, on_guardrail) -> AsyncIterator[bytes]:
    used: int | None = 0
    async def events():
        item = first
        while item is not grpc.aio.EOF:
            yield item
            item = await call.read()

    try:
        async for item in with_heartbeats(events(), heartbeat):
            if item is None:
                yield HEARTBEAT
                continue
            kind = item.WhichOneof("event")
            if kind == "token":
                used = None
                yield event("token", {"token": item.token.text, "index": item.token.index})
            elif kind == "completed":
                done = item.completed
                u = done.usage
                used = u.total_tokens
                yield event("complete", {
                    "finish_reason": done.finish_reason,
                    "usage": {"prompt": u.prompt_tokens, "completion": u.completion_tokens, "total": u.total_tokens},
                    "total_tokens": u.total_tokens,
                    "model": done.model, "provider": done.provider,
                    "conversation_id": done.conversation_id, "message_id": done.message_id,
                    "latency_ms": done.latency_ms, "ttft_ms": done.ttft_ms,
                    "timestamp": iso(done.created_at.ToDatetime(tzinfo=UTC)),
                })
            elif kind == "citations":
                yield event("citations", {"citations": [citation_out(c).model_dump() for c in item.citations.citations]})
            elif kind == "started":
                yield event("start", {"conversation_id": item.started.conversation_id, "user_message_id": item.started.user_message_id})
            elif kind == "model":
                yield event("model", {"provider": item.model.provider, "model": item.model.model})
            elif kind == "guardrail":
                await on_guardrail(item.guardrail)
    except AppError as error:
        yield event("error", {"code": error.code.value, "message": error.message, "retryable": error.retryable})
    finally:
        # The client left (or we are done): cancelling the call stops generation upstream.
        call.cancel()
        await guard.finish(used)


@router.post(
    "/chat/stream",
    summary="Stream an answer as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "events: start, model, citations, token, complete, error"}},
)
async def chat_stream(
    body: ChatIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep,
) -> StreamingResponse:
    req = await _screened_request(body, request, principal, settings)
    guard = await begin_turn(limits, principal, len(body.message), body.max_tokens, stream=True)
    try:
        call, first = await _open_turn(downstream, req, settings.chat_timeout_seconds)
    except BaseException:
        await guard.finish(0)
        raise
    headers = dict(SSE_HEADERS)
    if first.WhichOneof("event") == "started":
        headers["X-Conversation-Id"] = first.started.conversation_id
    return StreamingResponse(_sse(call, first, settings.heartbeat_seconds, guard,
                                  lambda e: record_turn_event(request, principal, e)), media_type="text/event-stream", headers=headers)
