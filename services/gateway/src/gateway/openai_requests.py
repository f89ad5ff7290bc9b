"""What a partner asked /v1 for, in the orchestrator's words, and what it may not ask for.

A partner gets what it asked for or a 400 naming the parameter: a parameter this platform
does not serve is refused when it asks for something (a neutral value, like
`frequency_penalty: 0` or `logprobs: false`, is what the answer does anyway and passes).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from chatbot.llm.v1 import llm_pb2
from chatbot_common.errors import AppError, ErrorCode
from gateway.api.schemas.openai_compat import ChatCompletionIn, EmbeddingsIn, Message

# Parameters of OpenAI's chat completions API this platform does not serve, with the values
# that ask for nothing (and so are accepted).
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (0, 0.0), "presence_penalty": (0, 0.0), "logit_bias": ({},), "store": (False,), "metadata": ({},),
    "service_tier": ("auto", "default"), "modalities": (["text"],), "reasoning_effort": (), "prediction": (), "audio": (),
    "web_search_options": (), "functions": (), "function_call": (), "verbosity": (), "prompt_cache_key": (), "safety_identifier": (),
}
# Ours beside OpenAI's: the semantic cache opt-out (`"cache": false`).
_OURS = {"cache"}
# How deeply a tool's parameters or a response format's schema may nest (objects and arrays):
# far beyond any real schema, and well within what the JSON encoders on the way accept (orjson
# stops at 255 levels, which was a 500).
MAX_SCHEMA_DEPTH = 64


def _refuse(field: str, message: str) -> AppError:
    return AppError(ErrorCode.VALIDATION_ERROR, message, {"field": field})


def _schema_text(field: str, schema: dict[str, Any]) -> str:
    """The schema as JSON text, or a 400 if it nests deeper than MAX_SCHEMA_DEPTH."""
    level, depth = [schema], 1
    while level:
        if depth > MAX_SCHEMA_DEPTH:
            raise _refuse(field, f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
        level = [v for node in level for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, (dict, list))]
        depth += 1
    return orjson.dumps(schema).decode()


def refuse_unsupported(body: ChatCompletionIn) -> None:
    """Raises a 400 for the first parameter asked for that is not served."""
    if body.logprobs:
        raise _refuse("logprobs", "logprobs is not supported: no provider behind this endpoint reports token log-probabilities to it")
    if body.top_logprobs:
        raise _refuse("top_logprobs", "top_logprobs is not supported (no log-probabilities are served)")
    for name, value in (body.model_extra or {}).items():
        if name in _OURS or value is None or value in _NEUTRAL.get(name, ()):
            continue
        if name in ("functions", "function_call"):
            raise _refuse(name, f"{name} (the deprecated function calling) is not supported: use tools and tool_choice")
        raise _refuse(name, f"the parameter {name!r} is not supported by this endpoint")


def _text(message: Message) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    if any(p.type != "text" for p in message.content):
        raise _refuse("messages", "only text content parts are supported")
    return "".join(p.text or "" for p in message.content)


def message_pb(index: int, m: Message) -> llm_pb2.ChatMessage:
    out = llm_pb2.ChatMessage(role="system" if m.role == "developer" else m.role, content=_text(m))
    if m.role == "tool":
        if not m.tool_call_id:
            raise _refuse(f"messages.{index}.tool_call_id", "a tool message needs the tool_call_id of the call it answers")
        out.tool_call_id, out.name = m.tool_call_id, m.name or ""
    elif m.tool_calls:
        if m.role != "assistant":
            raise _refuse(f"messages.{index}.tool_calls", "only assistant messages carry tool_calls")
        out.tool_calls.extend(llm_pb2.ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments) for c in m.tool_calls)
    return out


def function_params(body: ChatCompletionIn, params: llm_pb2.GenerationParams) -> None:
    """tools, tool_choice and response_format into the generation's parameters."""
    names = set()
    for i, tool in enumerate(body.tools or ()):
        f = tool.function
        if f.name in names:
            raise _refuse(f"tools.{i}.function.name", f"two tools are named {f.name!r}")
        names.add(f.name)
        schema = f.parameters if f.parameters is not None else {"type": "object", "properties": {}}
        if schema.get("type", "object") != "object":
            raise _refuse(f"tools.{i}.function.parameters", "a function's parameters must be a JSON schema of an object")
        parameters = _schema_text(f"tools.{i}.function.parameters", schema)
        params.tools.append(llm_pb2.Tool(name=f.name, description=f.description or "", parameters=parameters))
    choice = body.tool_choice
    if choice is not None and not isinstance(choice, str):
        if choice.function.name not in names:
            raise _refuse("tool_choice", f"tool_choice names {choice.function.name!r}, which is not among the tools")
        params.tool_choice = choice.function.name
    elif choice is not None:
        if choice == "required" and not names:
            raise _refuse("tool_choice", "tool_choice 'required' needs tools")
        params.tool_choice = choice
    fmt = body.response_format
    if fmt is not None and fmt.type != "text":
        out = llm_pb2.ResponseFormat(type=fmt.type)
        if fmt.type == "json_schema":
            if fmt.json_schema is None:
                raise _refuse("response_format.json_schema", "response_format json_schema needs its json_schema (name, schema)")
            out.name, out.strict = fmt.json_schema.name, bool(fmt.json_schema.strict)
            out.schema = _schema_text("response_format.json_schema.schema", fmt.json_schema.schema_ or {"type": "object"})
        params.response_format.CopyFrom(out)


def tool_call_out(call: llm_pb2.ToolCall) -> dict:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def embedding_texts(body: EmbeddingsIn, max_inputs: int, max_chars: int) -> list[str]:
    """The texts to embed; token arrays and empty texts are refused (the model reads text)."""
    if body.dimensions is not None:
        raise _refuse("dimensions", "dimensions is not supported: the embedding model's vectors have one length (see /v1/models)")
    for name, value in (body.model_extra or {}).items():
        if value is not None:
            raise _refuse(name, f"the parameter {name!r} is not supported by this endpoint")
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise _refuse("input", "input must not be empty")
    if not all(isinstance(t, str) for t in texts):
        raise _refuse("input", "token arrays are not supported: send the text")
    if len(texts) > max_inputs:
        raise _refuse("input", f"at most {max_inputs} inputs per request")
    for i, text in enumerate(texts):
        if not text.strip():
            raise _refuse(f"input.{i}", "an input must not be empty")
        if len(text) > max_chars:
            raise _refuse(f"input.{i}", f"an input is at most {max_chars} characters")
    return texts


def embedding_out(values, encoding: str) -> list[float] | str:
    """A vector as OpenAI sends it: floats, or base64 of little-endian float32."""
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return list(values)
