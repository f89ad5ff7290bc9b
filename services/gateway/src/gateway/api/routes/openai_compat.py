"""OpenAI-compatible /v1 for partner systems and the official SDKs. Stateless: straight to
the llm-orchestrator, nothing is stored."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2
from chatbot.llm.v1 import llm_pb2
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.guardrails.canary import LEAK_STOPPED, LeakGuard, guarded_system_prompt, new_canary
from gateway.api.deps import ChatCaller, DownstreamDep, LimitsDep, SettingsDep, caller_pb
from gateway.api.schemas.openai_compat import ChatCompletionIn, EmbeddingsIn
from gateway.chat_stream import CallAsked, GenerationEnded, Spend, Text, Usage, open_generation
from gateway.chat_turns import no_cache, tenant_allows_cache, with_budget_left
from gateway.guardrails import record_leak, screen_input
from gateway.limits.limiter import TurnGuard, begin_turn
from gateway.openai_requests import embedding_out, embedding_texts, function_params, message_pb, refuse_unsupported, tool_call_out
from gateway.sse import SSE_HEADERS

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
log = logging.getLogger(__name__)


def _generate_request(body: ChatCompletionIn, principal, settings, request_id: str) -> llm_pb2.GenerateRequest:
    refuse_unsupported(body)
    messages = [message_pb(i, m) for i, m in enumerate(body.messages)]
    total = sum(len(m.content) + sum(len(c.arguments) for c in m.tool_calls) for m in messages)
    if total > settings.max_message_chars * 8:
        raise AppError(ErrorCode.VALIDATION_ERROR, "messages are too long", {"limit_chars": settings.max_message_chars * 8})
    params = llm_pb2.GenerationParams()
    if body.temperature is not None:
        params.temperature = body.temperature
    if body.top_p is not None:
        params.top_p = body.top_p
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None:
        params.max_tokens = max_tokens
    if body.stop:
        stops = [body.stop] if isinstance(body.stop, str) else body.stop
        if len(stops) > 4:
            raise AppError(ErrorCode.VALIDATION_ERROR, "at most 4 stop sequences", {"field": "stop"})
        params.stop.extend(stops)
    if body.seed is not None:
        params.seed = body.seed
    function_params(body, params)
    extra = body.model_extra or {}
    # The semantic cache: never with tools or an output format (the answer depends on them), nor
    # when opted out (`"cache": false` in the body, e.g. the SDK's extra_body, or Cache-Control: no-cache).
    cacheable = not params.tools and not params.HasField("response_format") and extra.get("cache") is not False
    return llm_pb2.GenerateRequest(model=body.model, messages=messages, params=params, request_id=request_id, caller=caller_pb(principal),
                                   cacheable=cacheable)


class _Chunks:
    """Pre-encoded chunk framing: only the text changes from chunk to chunk."""

    def __init__(self, completion_id: str, created: int, model: str) -> None:
        self._head = (
            b'data: {"id":"' + completion_id.encode() + b'","object":"chat.completion.chunk","created":'
            + str(created).encode() + b',"model":' + orjson.dumps(model) + b',"choices":['
        )

    def delta(self, text: str) -> bytes:
        return self._head + b'{"index":0,"delta":{"content":' + orjson.dumps(text) + b'},"finish_reason":null}]}\n\n'

    def role(self) -> bytes:
        return self._head + b'{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'

    def tool_call(self, index: int, call: llm_pb2.ToolCall) -> bytes:
        """A whole call in one chunk (OpenAI sends the arguments in fragments; clients join them either way)."""
        piece = {"index": index, **tool_call_out(call)}
        return self._head + b'{"index":0,"delta":{"tool_calls":[' + orjson.dumps(piece) + b']},"finish_reason":null}]}\n\n'

    def finish(self, reason: str) -> bytes:
        return self._head + b'{"index":0,"delta":{},"finish_reason":' + orjson.dumps(reason) + b"}]}\n\n"

    def usage(self, u: Usage, spend: Spend | None) -> bytes:
        return self._head + b'],"usage":' + orjson.dumps(_usage_out(u, spend)) + b"}\n\n"


def _usage_out(u: Usage, spend: Spend | None) -> dict:
    """OpenAI's usage, with the cost (USD decimal string, null when unknown) and how the answer
    was served (the semantic cache, a routing alias's choice) beside the counts."""
    out: dict = {"prompt_tokens": u.prompt, "completion_tokens": u.completion, "total_tokens": u.total}
    if spend is not None:
        out["prompt_tokens_details"] = {"cached_tokens": spend.cached_prompt_tokens}
        out.update(spend.shown())
    return out


async def _record_usage(downstream, principal, settings, selected: ModelSelected | None, ended: GenerationEnded | None,
                        kind: str = "chat") -> None:
    """/v1 generations (and embeddings, kind "embedding") go into the conversation service's usage
    ledger like chat turns. A ledger that cannot be reached does not fail an answer already given;
    it is logged (no content)."""
    if selected is None or ended is None:
        return
    u, spend = ended.usage, ended.spend or Spend("")
    usage = common_pb2.Usage(prompt_tokens=u.prompt, completion_tokens=u.completion, total_tokens=u.total,
                             cached_prompt_tokens=spend.cached_prompt_tokens, cost=spend.cost)
    served = common_pb2.Served(cached=spend.cached, saved_cost=spend.saved_cost)
    try:
        await downstream.conversation.RecordUsage(conversation_pb2.RecordUsageRequest(
            caller=caller_pb(principal), provider=selected.provider, model=selected.model, usage=usage, served=served, kind=kind),
            timeout=settings.call_timeout_seconds)
    except Exception as exc:  # noqa: BLE001 - the answer is out; the miss is an operator's matter
        log.warning("usage of a /v1 answer not recorded", extra={"error": type(exc).__name__})


def _finish(reason: str) -> str:
    return reason if reason in ("stop", "length", "content_filter", "tool_calls") else "stop"


class _Leaked(Exception):
    """The reply began to disclose the caller's system messages."""


def _protect(req: llm_pb2.GenerateRequest) -> Callable[[], LeakGuard] | None:
    """A canary at the head of the first system message, and guards (one for the reply's text,
    one for each tool call's arguments) for it and for any run of the system messages (a
    partner's instructions are as confidential as ours)."""
    system = [m for m in req.messages if m.role == "system"]
    if not system:
        return None
    canary = new_canary()
    protected = "\n".join(m.content for m in system)
    system[0].content = guarded_system_prompt(system[0].content, canary)
    return lambda: LeakGuard(canary, protected)


class _Reply:
    """The answer's text as it may leave (the leak guard holds back what could be the start of
    a disclosure), its finish and usage."""

    def __init__(self, guard: Callable[[], LeakGuard] | None, parallel_calls: bool = True) -> None:
        self._guard = guard
        self._leaks = guard() if guard else None
        self._parallel = parallel_calls
        self.calls: list[llm_pb2.ToolCall] = []
        self.finish = "stop"
        self.usage: Usage | None = None
        self.ended: GenerationEnded | None = None

    def call(self, event: CallAsked) -> llm_pb2.ToolCall | None:
        """The call as it leaves, or None past the first when the partner asked for one at most
        (parallel_tool_calls: false). Its arguments pass the leak guard like text does."""
        if self.calls and not self._parallel:
            return None
        if self._guard is not None:
            guard = self._guard()
            guard.feed(event.arguments)
            guard.flush()
            if guard.leaked:
                raise _Leaked
        call = llm_pb2.ToolCall(id=event.id, name=event.name, arguments=event.arguments)
        self.calls.append(call)
        return call

    def text(self, event: Text | GenerationEnded) -> str:
        """Raises _Leaked once the reply discloses the system messages."""
        if isinstance(event, Text):
            text = self._leaks.feed(event.text) if self._leaks else event.text
        else:
            self.finish, self.usage, self.ended = _finish(event.finish_reason), event.usage, event
            text = self._leaks.flush() if self._leaks else ""
        if self._leaks and self._leaks.leaked:
            raise _Leaked
        return text


async def _stream(stream, chunks: _Chunks, include_usage: bool, guard: TurnGuard, reply: _Reply, on_leak, on_end) -> AsyncIterator[bytes]:
    # The orchestrator paces its deltas, so each event is one write; the first delta (read while
    # opening) leaves with the response's role chunk.
    head = chunks.role()
    try:
        async for event in stream:
            if isinstance(event, ModelSelected):
                continue
            if isinstance(event, CallAsked):
                if (call := reply.call(event)) is not None:
                    yield head + chunks.tool_call(len(reply.calls) - 1, call)
                    head = b""
                continue
            text = reply.text(event)
            out = head + chunks.delta(text) if text else head
            head = b""
            if isinstance(event, GenerationEnded):
                out += chunks.finish(reply.finish) + (chunks.usage(event.usage, event.spend) if include_usage else b"")
            if out:
                yield out
        yield head + b"data: [DONE]\n\n"
    except _Leaked:
        await on_leak()
        yield b"data: " + orjson.dumps(AppError(ErrorCode.CONTENT_BLOCKED, LEAK_STOPPED).to_body()) + b"\n\n"
    except AppError as error:
        yield b"data: " + orjson.dumps(error.to_body()) + b"\n\n"
    finally:
        stream.cancel()
        await guard.finish(reply.usage.total if reply.usage else None)
        await on_end()


@router.post("/chat/completions", summary="OpenAI-compatible chat completions (streaming or not)")
async def chat_completions(
    body: ChatCompletionIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep,
) -> Response:
    req = _generate_request(body, principal, settings, request.state.request_id)
    if no_cache(request.headers) or not await tenant_allows_cache(request, principal):
        req.cacheable = False
    # Every role is screened: text refused as `user` must not pass as `system` or `assistant`.
    cleaned, _ = await screen_input(request, principal, [m.content for m in req.messages],
                                    ["message" if m.role == "user" else "instructions" for m in req.messages])
    for message, text in zip(req.messages, cleaned, strict=True):
        message.content = text
    reply = _Reply(_protect(req), body.parallel_tool_calls is not False)
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())
    prompt_chars = sum(len(m.content) for m in req.messages)
    guard = await begin_turn(limits, principal, prompt_chars, req.params.max_tokens or None, stream=body.stream)
    with_budget_left(req, guard)
    try:
        stream, start = await open_generation(downstream, req, settings.chat_timeout_seconds)
    except BaseException:
        await guard.finish(0)
        raise
    headers = {"X-LLM-Provider": start.provider, "X-LLM-Model": start.model}

    async def on_leak() -> None:
        await record_leak(request, principal, "v1")

    async def on_end() -> None:
        await _record_usage(downstream, principal, settings, start, reply.ended)

    if body.stream:
        chunks = _Chunks(completion_id, created, start.model)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(_stream(stream, chunks, include_usage, guard, reply, on_leak, on_end), media_type="text/event-stream",
                                 headers={**SSE_HEADERS, **headers})
    parts: list[str] = []
    try:
        async for event in stream:
            if isinstance(event, Text | GenerationEnded):
                parts.append(reply.text(event))
            elif isinstance(event, CallAsked):
                reply.call(event)
    except _Leaked:
        await on_leak()
        raise AppError(ErrorCode.CONTENT_BLOCKED, LEAK_STOPPED) from None
    finally:
        stream.cancel()
        await guard.finish(reply.usage.total if reply.usage else None)
        await on_end()
    usage = reply.usage or Usage(0, 0, 0)
    message: dict = {"role": "assistant", "content": "".join(parts)}
    if reply.calls:
        message = {"role": "assistant", "content": message["content"] or None, "tool_calls": [tool_call_out(c) for c in reply.calls]}
    payload = {
        "id": completion_id, "object": "chat.completion", "created": created, "model": start.model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish}],
        "usage": _usage_out(usage, reply.ended.spend if reply.ended else None),
    }
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


@router.get("/models", summary="Models and aliases this platform serves")
async def list_models(principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> dict:
    reply = await downstream.llm.ListModels(llm_pb2.ListModelsRequest(), timeout=settings.call_timeout_seconds)
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": 0, "owned_by": m.provider or "chatbot",
             "context_window": m.context_window, "chain": list(m.chain), "available": m.available, "kind": "chat"}
            for m in reply.models
        ] + [
            {"id": m.id, "object": "model", "created": 0, "owned_by": m.provider or "chatbot", "chain": [], "available": m.available,
             "kind": "embedding", "dimensions": m.dimensions}
            for m in reply.embedding_models
        ],
    }


@router.post("/embeddings", summary="OpenAI-compatible embeddings (the platform's embedding model, or a provider's)")
async def embeddings(body: EmbeddingsIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep,
                     limits: LimitsDep) -> Response:
    texts = embedding_texts(body, settings.max_embedding_inputs, settings.max_message_chars)
    # The same limits as chat: the request rate (middleware) and the token budget, reserved by
    # the texts' length and settled with the tokens the model read.
    guard = await begin_turn(limits, principal, sum(map(len, texts)), 1, stream=False)
    try:
        # A generation's deadline: a few hundred long texts take the embedding model a while.
        reply = await downstream.llm.Embed(llm_pb2.EmbedRequest(model=body.model, texts=texts, caller=caller_pb(principal),
                                                                request_id=request.state.request_id), timeout=settings.chat_timeout_seconds)
    except BaseException:
        await guard.finish(0)
        raise
    await guard.finish(reply.prompt_tokens)
    provider, _, model = reply.model.rpartition(":")
    ended = GenerationEnded("stop", Usage(reply.prompt_tokens, 0, reply.prompt_tokens), Spend(reply.cost))
    await _record_usage(downstream, principal, settings, ModelSelected(provider or "local", model), ended, "embedding")
    payload = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": embedding_out(e.values, body.encoding_format)}
                 for i, e in enumerate(reply.embeddings)],
        "model": reply.model,
        "usage": {"prompt_tokens": reply.prompt_tokens, "total_tokens": reply.prompt_tokens, "cost": reply.cost or None},
    }
    return Response(orjson.dumps(payload), media_type="application/json")
