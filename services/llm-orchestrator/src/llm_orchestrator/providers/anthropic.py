"""Anthropic's Messages API through the official SDK.

Function calling is native: our tools become `tools` with an `input_schema`, a `tool_use` block
(its input streamed as `input_json_delta` fragments) becomes a ToolCall, and a tool message a
`tool_result` block in a user turn. An output format (response_format) is asked for by forced
tool use, the means every Claude model and API version honours: one extra tool whose
input_schema is the wanted schema, which the model must call; its input is the answer's text.
"""

from __future__ import annotations

import json
import uuid
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
    ToolCall,
    Usage,
    status_error,
    timed_out,
    unreachable,
)

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "refusal": "content_filter", "tool_use": "tool_calls"}
# The tool that carries an answer in the asked-for format (never a name a caller's tool may take:
# tool names are [a-zA-Z0-9_-]).
_FORMAT_TOOL = "__response_format"


def _input(arguments: str) -> dict:
    """A call's arguments as the object Anthropic wants back; text that is not a JSON object
    (a model's invalid call, refused before it ran) goes back as {}."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _turns(messages: list[ChatMessage]) -> list[dict]:
    """User and assistant turns in Anthropic's blocks; the results of one step's calls (tool
    messages in a row) form one user turn."""
    turns: list[dict] = []
    for m in messages:
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            if turns and turns[-1]["role"] == "user" and isinstance(turns[-1]["content"], list) \
                    and all(b.get("type") == "tool_result" for b in turns[-1]["content"]):
                turns[-1]["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
        elif m.role == "assistant" and m.tool_calls:
            blocks: list[dict] = [{"type": "text", "text": m.content}] if m.content else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)} for c in m.tool_calls]
            turns.append({"role": "assistant", "content": blocks})
        elif m.role in ("user", "assistant"):
            turns.append({"role": m.role, "content": m.content})
    return turns


def tool_request(params: GenParams) -> dict:
    """tools and tool_choice in the Messages API's words, with the format tool when an output
    format is asked for."""
    tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in params.tools]
    choice = params.tool_choice or "auto"
    fmt = params.response_format
    if fmt is not None and fmt.type in ("json_object", "json_schema") and choice != "none":
        schema = fmt.schema if fmt.type == "json_schema" and fmt.schema else {"type": "object"}
        tools.append({"name": _FORMAT_TOOL, "description": "Give your final answer by calling this tool with it as the input.",
                      "input_schema": schema})
        # Alone: the format tool is forced. Beside the caller's tools: some tool is (one of
        # theirs, or the answer in its format), unless one of theirs was named.
        choice = _FORMAT_TOOL if not params.tools else ("required" if choice == "auto" else choice)
    if not tools:
        return {}
    translated = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}.get(choice, {"type": "tool", "name": choice})
    return {"tools": tools, "tool_choice": translated}


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

    async def stream(self, model: str, messages: list[ChatMessage], params: GenParams) -> AsyncIterator[Delta | ToolCall | End]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        turns = _turns(messages)
        kwargs: dict = tool_request(params)
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
        blocks: dict[int, dict] = {}  # tool_use blocks by index, their input's JSON text in pieces
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
                elif kind == "content_block_start" and getattr(event.content_block, "type", "") == "tool_use":
                    block = event.content_block
                    blocks[event.index] = {"id": block.id, "name": block.name, "input": []}
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    yield Delta(event.delta.text)
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "input_json_delta":
                    if event.index in blocks:
                        blocks[event.index]["input"].append(event.delta.partial_json)
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
        called = False
        for _, block in sorted(blocks.items()):
            arguments = "".join(block["input"]) or "{}"
            if block["name"] == _FORMAT_TOOL:
                yield Delta(arguments)  # the answer, in the format asked for
            else:
                called = True
                yield ToolCall(block["id"] or f"call_{uuid.uuid4().hex[:24]}", block["name"], arguments)
        if finish == "tool_calls" and not called:
            finish = "stop"
        yield End(finish, usage)

    async def aclose(self) -> None:
        await self._client.close()
