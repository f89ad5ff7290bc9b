"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic

from chatbot_common.errors import ProviderErrorKind
from llm_orchestrator.providers.base import (
    ChatMessage,
    Delta,
    End,
    GenParams,
    ModelSpec,
    ProviderError,
    Usage,
    status_error,
    timed_out,
    unreachable,
)

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "refusal": "content_filter", "tool_use": "stop"}


def translate_error(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.APITimeoutError):
        return timed_out()
    if isinstance(exc, anthropic.APIConnectionError):
        return unreachable()
    if isinstance(exc, anthropic.APIStatusError):
        return status_error(exc.status_code, str(exc.body or ""), exc.response.headers, str(exc.message or ""))
    return ProviderError(ProviderErrorKind.UNAVAILABLE, f"provider error: {type(exc).__name__}")


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, api_key: str, base_url: str | None, models: list[str], context_window: int, timeout: float, default_max_tokens: int = 1024) -> None:
        self._models = [ModelSpec(m, context_window) for m in models]
        self._default_max_tokens = default_max_tokens
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    def models(self) -> list[ModelSpec]:
        return list(self._models)

    async def stream(self, model: str, messages: list[ChatMessage], params: GenParams) -> AsyncIterator[Delta | End]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        turns = [{"role": m.role, "content": m.content} for m in messages if m.role in ("user", "assistant")]
        kwargs: dict = {}
        if system:
            kwargs["system"] = system
        if params.temperature is not None:
            kwargs["temperature"] = min(params.temperature, 1.0)  # Anthropic's range is 0..1
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.stop:
            kwargs["stop_sequences"] = list(params.stop)
        usage = Usage()
        finish = "stop"
        try:
            stream = await self._client.messages.create(
                model=model, messages=turns, max_tokens=params.max_tokens or self._default_max_tokens, stream=True, **kwargs
            )
        except anthropic.AnthropicError as exc:
            raise translate_error(exc) from None
        try:
            async for event in stream:
                kind = event.type
                if kind == "message_start":
                    # input_tokens leaves out what was read from (or written to) the prompt cache.
                    read = getattr(event.message.usage, "cache_read_input_tokens", None) or 0
                    written = getattr(event.message.usage, "cache_creation_input_tokens", None) or 0
                    usage.prompt_tokens = (event.message.usage.input_tokens or 0) + read + written
                    usage.cached_prompt_tokens = read
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    yield Delta(event.delta.text)
                elif kind == "message_delta":
                    if event.delta.stop_reason:
                        finish = _FINISH.get(event.delta.stop_reason, "stop")
                    if event.usage is not None:
                        usage.completion_tokens = event.usage.output_tokens or 0
        except anthropic.AnthropicError as exc:  # an error event in the stream (e.g. overloaded)
            raise translate_error(exc) from None
        except Exception:
            # The SDK lets a broken connection (its HTTP client's error) and a chunk that is not
            # JSON through as they are: either way the provider's stream broke off.
            raise ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider's stream broke off") from None
        finally:
            await stream.close()  # a stream left early (a deadline, a caller gone) ends the request
        yield End(finish, usage)

    async def aclose(self) -> None:
        await self._client.close()
