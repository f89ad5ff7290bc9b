"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp server, LM Studio, Azure)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import openai
import orjson

from chatbot_common.errors import ProviderErrorKind
from llm_orchestrator.providers.base import (
    ChatMessage,
    Delta,
    End,
    GenParams,
    ModelSpec,
    ProviderError,
    Usage,
    kind_for_http_status,
    parse_retry_after,
)

_DRAIN_SECONDS = 0.5
_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter", "tool_calls": "stop", "function_call": "stop"}


def translate_error(exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(ProviderErrorKind.TIMEOUT, "the provider timed out")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider could not be reached")
    if isinstance(exc, openai.APIStatusError):
        body = str(exc.body or "")
        kind = kind_for_http_status(exc.status_code, body)
        return ProviderError(kind, f"the provider answered {exc.status_code}", retry_after=parse_retry_after(exc.response.headers),
                             detail=str(exc.message or "")[:500])
    return ProviderError(ProviderErrorKind.UNAVAILABLE, f"provider error: {type(exc).__name__}")


class _Reply:
    """An OpenAI streaming body, read as it arrives (server-sent events of JSON chunks)."""

    def __init__(self) -> None:
        self._partial = b""
        self.finish = "stop"
        self.usage = Usage()
        self.chunks = 0  # chunks that carried text
        self.done = False

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
                self.usage = Usage(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0)
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    self.chunks += 1
                    texts.append(content)
                if choice.get("finish_reason"):
                    self.finish = _FINISH.get(choice["finish_reason"], "stop")
        return "".join(texts)

    def end(self) -> End:
        if self.usage.completion_tokens == 0 and self.chunks:
            # Servers that ignore include_usage: one chunk is one token on every server we know.
            self.usage.completion_tokens = self.chunks
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
        # Retries are ours (with fallback and circuit breakers), so the SDK must not add its own.
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    def models(self) -> list[ModelSpec]:
        return list(self._models)

    async def stream(self, model: str, messages: list[ChatMessage], params: GenParams) -> AsyncIterator[Delta | End]:
        kwargs: dict = {}
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.max_tokens is not None:
            kwargs["max_tokens"] = params.max_tokens
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        reply = _Reply()
        try:
            # The SDK builds, authenticates and error-maps the request; the SSE body is read
            # raw and decoded with orjson, which costs far less per token than SDK objects.
            async with self._client.chat.completions.with_streaming_response.create(
                model=model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                stream=True,
                stream_options={"include_usage": True},
                **kwargs,
            ) as response:
                body = response.iter_bytes()
                # One delta per read: chunks that arrived together (while the delta before was
                # being sent on, under load) travel on together.
                async for data in body:
                    if text := reply.feed(data):
                        yield Delta(text)
                    if reply.done:
                        break
                if reply.finish == "content_filter" and reply.chunks == 0:
                    raise ProviderError(ProviderErrorKind.CONTENT_FILTER, "the provider's content filter refused the request")
                try:
                    yield reply.end()
                finally:
                    await _drain(body)
        except openai.OpenAIError as exc:
            raise translate_error(exc) from None
        except (httpx.HTTPError, orjson.JSONDecodeError):
            raise ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider's stream broke off") from None

    async def aclose(self) -> None:
        await self._client.close()
