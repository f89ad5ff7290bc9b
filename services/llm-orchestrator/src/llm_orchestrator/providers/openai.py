"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp server, LM Studio).

The chat completions API is called with httpx directly: a request is one JSON body and a
bearer key, and the SDK's typed request building cost more CPU per request than relaying
all of its tokens. Retries are ours (with fallback and circuit breakers), never the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson

from chatbot_common.errors import ProviderErrorKind
from llm_orchestrator.providers.base import (
    ChatMessage,
    Delta,
    End,
    GenParams,
    ModelSpec,
    ProviderError,
    ToolCall,
    Usage,
    kind_for_http_status,
    status_error,
    timed_out,
    unreachable,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_DRAIN_SECONDS = 0.5
_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter", "tool_calls": "tool_calls", "function_call": "tool_calls"}


def _message(m: ChatMessage) -> dict:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
    return out


def tool_request(params: GenParams) -> dict:
    """Tools, tool_choice and response_format in the chat completions API's own words."""
    out: dict = {}
    if params.tools:
        out["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                        for t in params.tools]
        choice = params.tool_choice or "auto"
        out["tool_choice"] = choice if choice in ("auto", "none", "required") else {"type": "function", "function": {"name": choice}}
    fmt = params.response_format
    if fmt is not None and fmt.type == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif fmt is not None and fmt.type == "json_schema":
        schema: dict = {"name": fmt.name or "response", "schema": fmt.schema or {"type": "object"}}
        if fmt.strict:
            schema["strict"] = True
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    return out


async def _refusal(response: httpx.Response) -> ProviderError:
    """An error answer, with the provider's own message for the operator's log."""
    text = (await response.aread()).decode(errors="replace")
    try:
        error = orjson.loads(text).get("error")
        detail = str(error.get("message") if isinstance(error, dict) else error or text)
    except (orjson.JSONDecodeError, AttributeError):
        detail = text
    return status_error(response.status_code, text, response.headers, detail)


class _Reply:
    """An OpenAI streaming body, read as it arrives (server-sent events of JSON chunks)."""

    def __init__(self) -> None:
        self._partial = b""
        self.finish = "stop"
        self.usage = Usage()
        self.chunks = 0  # chunks that carried text or a piece of a tool call
        self.done = False
        # Tool calls arrive in pieces keyed by their index: the id and name first, then the
        # arguments' JSON text in fragments.
        self._calls: dict[int, dict] = {}

    def feed(self, data: bytes) -> str:
        """The text of the events completed by `data`."""
        *lines, self._partial = (self._partial + data).split(b"\n")
        texts = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            chunk = orjson.loads(payload)
            if "error" in chunk:
                raise ProviderError(kind_for_http_status(500, str(chunk["error"])), "the provider failed mid-stream")
            if chunk.get("usage"):
                u = chunk["usage"]
                self.usage = Usage(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0,
                                   (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if content:
                    self.chunks += 1
                    texts.append(content)
                for piece in delta.get("tool_calls") or ():
                    self.chunks += 1
                    call = self._calls.setdefault(piece.get("index", len(self._calls)), {"id": "", "name": "", "arguments": []})
                    call["id"] = piece.get("id") or call["id"]
                    function = piece.get("function") or {}
                    call["name"] = function.get("name") or call["name"]
                    if function.get("arguments"):
                        call["arguments"].append(function["arguments"])
                if choice.get("finish_reason"):
                    self.finish = _FINISH.get(choice["finish_reason"], "stop")
        return "".join(texts)

    def calls(self) -> list[ToolCall]:
        return [ToolCall(c["id"] or f"call_{uuid.uuid4().hex[:24]}", c["name"], "".join(c["arguments"]))
                for _, c in sorted(self._calls.items())]

    def end(self) -> End:
        if self.usage.completion_tokens == 0 and self.chunks:
            # Servers that ignore include_usage: one chunk is one token on every server we know.
            self.usage.completion_tokens = self.chunks
        if self._calls and self.finish == "stop":
            self.finish = "tool_calls"  # some servers (Ollama) say "stop" after calls
        return End(self.finish, self.usage)


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Reads what follows `[DONE]` (the body's last bytes), so that the connection goes back to
    the pool instead of being closed: a new connection per request costs a handshake each time."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in body:
                pass


class OpenAIProvider:
    def __init__(self, name: str, api_key: str, base_url: str | None, models: list[str], context_window: int, timeout: float) -> None:
        self.name = name
        self._models = [ModelSpec(m, context_window) for m in models]
        self._client = httpx.AsyncClient(
            base_url=base_url or DEFAULT_BASE_URL, timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )

    def models(self) -> list[ModelSpec]:
        return list(self._models)

    async def stream(self, model: str, messages: list[ChatMessage], params: GenParams) -> AsyncIterator[Delta | ToolCall | End]:
        request: dict = {
            "model": model,
            "messages": [_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            **tool_request(params),
        }
        if params.temperature is not None:
            request["temperature"] = params.temperature
        if params.top_p is not None:
            request["top_p"] = params.top_p
        if params.max_tokens is not None:
            request["max_tokens"] = params.max_tokens
        if params.stop:
            request["stop"] = list(params.stop)
        if params.seed is not None:
            request["seed"] = params.seed
        reply = _Reply()
        answered = False
        try:
            async with self._client.stream("POST", "chat/completions", content=orjson.dumps(request)) as response:
                answered = True
                if response.status_code >= 400:
                    raise await _refusal(response)
                # The SSE body is read raw and decoded with orjson: one delta per read, so chunks
                # that arrived together travel on together.
                body = response.aiter_bytes()
                async for data in body:
                    if text := reply.feed(data):
                        yield Delta(text)
                    if reply.done:
                        break
                if reply.finish == "content_filter" and reply.chunks == 0:
                    raise ProviderError(ProviderErrorKind.CONTENT_FILTER, "the provider's content filter refused the request")
                try:
                    for call in reply.calls():
                        yield call
                    yield reply.end()
                finally:
                    await _drain(body)
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            if answered:
                raise ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider's stream broke off") from None
            raise (timed_out() if isinstance(exc, httpx.TimeoutException) else unreachable()) from None

    async def embed(self, model: str, texts: list[str]) -> tuple[list[list[float]], int]:
        """The server's embeddings API: vectors in input order, and the prompt tokens it billed."""
        try:
            response = await self._client.post("embeddings", content=orjson.dumps({"model": model, "input": texts, "encoding_format": "float"}))
            if response.status_code >= 400:
                raise await _refusal(response)
            body = orjson.loads(response.content)
            vectors = [item["embedding"] for item in sorted(body["data"], key=lambda item: item.get("index", 0))]
            return vectors, int((body.get("usage") or {}).get("prompt_tokens") or 0)
        except (httpx.HTTPError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise (timed_out() if isinstance(exc, httpx.TimeoutException) else unreachable()) from None

    async def aclose(self) -> None:
        await self._client.aclose()
