"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp server, LM Studio, Azure)."""

from __future__ import annotations

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
        finish = "stop"
        usage = Usage()
        completion_chunks = 0
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
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = orjson.loads(data)
                    if "error" in chunk:
                        raise ProviderError(kind_for_http_status(500, str(chunk["error"])), "the provider failed mid-stream")
                    if chunk.get("usage"):
                        u = chunk["usage"]
                        usage = Usage(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0)
                    for choice in chunk.get("choices") or ():
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            completion_chunks += 1
                            yield Delta(content)
                        if choice.get("finish_reason"):
                            finish = _FINISH.get(choice["finish_reason"], "stop")
        except openai.OpenAIError as exc:
            raise translate_error(exc) from None
        except (httpx.HTTPError, orjson.JSONDecodeError):
            raise ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider's stream broke off") from None
        if finish == "content_filter" and completion_chunks == 0:
            raise ProviderError(ProviderErrorKind.CONTENT_FILTER, "the provider's content filter refused the request")
        if usage.completion_tokens == 0 and completion_chunks:
            # Servers that ignore include_usage: one chunk is one token on every server we know.
            usage.completion_tokens = completion_chunks
        yield End(finish, usage)

    async def aclose(self) -> None:
        await self._client.close()
