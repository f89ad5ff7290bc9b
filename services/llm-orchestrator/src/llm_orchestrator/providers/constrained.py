"""What the embedded model may write when asked for a format or offered tools.

A small model follows instructions loosely, so the shape is enforced while it samples: a
llama.cpp grammar built from a JSON schema (llama_cpp's own converter) allows only valid
output. For tools, the schema is one call `{"name": <a tool offered>, "arguments": <its
schema>}`; with tool_choice "auto" the grammar also allows a plain answer (anything not
starting with `{`), so the model still chooses between calling and answering.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from chatbot_common.errors import ProviderErrorKind
from llm_orchestrator.providers.base import ChatMessage, GenParams, ProviderError, ToolCall, ToolSpec

_ROOT = re.compile(r"^root ::=", re.MULTILINE)
# A plain answer in "auto": its first character is not the `{` that opens a call.
_PLAIN = 'root ::= call | plain\nplain ::= [^{] [^\\x00]*\n'
# The converter writes a bound like minItems or maxLength out as that many repetitions (17
# bytes per item: `"minItems": 1000000` in a /v1 response_format or a tenant's MCP tool was a
# 17 MB grammar, 10^8 would be 1.7 GB, built on the event loop). Bounds above this, and
# grammars above this size, are refused as the caller's error.
MAX_REPETITIONS = 10_000
MAX_GRAMMAR_CHARS = 2_000_000
_REPEATED = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties", "minContains", "maxContains")


@dataclass(frozen=True)
class Constraint:
    """How one generation is held to a shape: `mode` is "text" (none), "json" (an answer in a
    format: streamed as written) or "call"/"auto" (a tool call, read whole at the end)."""

    mode: str
    grammar: str = ""


def call_schema(tools: tuple[ToolSpec, ...], choice: str) -> dict:
    """The JSON schema of one call to one of the tools allowed (the named one only, if named)."""
    allowed = [t for t in tools if t.name == choice] if choice not in ("auto", "required", "none") else list(tools)
    if not allowed:
        raise ProviderError(ProviderErrorKind.INVALID_REQUEST, f"tool_choice names {choice!r}, which is not among the tools")
    variants = [{"type": "object", "properties": {"name": {"const": t.name}, "arguments": t.parameters or {"type": "object"}},
                 "required": ["name", "arguments"], "additionalProperties": False} for t in allowed]
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def gbnf(schema: dict) -> str:
    """A schema as a llama.cpp grammar; a schema the converter cannot express is the caller's error."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    _check_repetitions(schema)
    try:
        grammar = json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # noqa: BLE001 - the converter raises several kinds for what it cannot express
        raise ProviderError(ProviderErrorKind.INVALID_REQUEST, f"the local model cannot hold its output to this schema: {exc}") from None
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise ProviderError(ProviderErrorKind.INVALID_REQUEST, "the local model cannot hold its output to a schema this large")
    return grammar


def _check_repetitions(schema: dict) -> None:
    stack: list = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in _REPEATED:
                bound = node.get(key)
                if isinstance(bound, (int, float)) and not isinstance(bound, bool) and bound > MAX_REPETITIONS:
                    raise ProviderError(ProviderErrorKind.INVALID_REQUEST,
                                        f"the local model cannot hold its output to {key} above {MAX_REPETITIONS}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def constraint(params: GenParams) -> Constraint:
    if params.tools and params.tool_choice != "none":
        call = gbnf(call_schema(params.tools, params.tool_choice))
        if params.tool_choice == "auto":
            return Constraint("auto", _ROOT.sub("call ::=", call, count=1) + "\n" + _PLAIN)
        return Constraint("call", call)
    fmt = params.response_format
    if fmt is not None and fmt.type == "json_object":
        return Constraint("json", gbnf({"type": "object"}))
    if fmt is not None and fmt.type == "json_schema":
        return Constraint("json", gbnf(fmt.schema or {"type": "object"}))
    return Constraint("text")


def instructions(params: GenParams) -> str:
    """What the model is told about its tools or format (the grammar holds it to it either way)."""
    lines: list[str] = []
    if params.tools and params.tool_choice != "none":
        lines.append("You can call these tools:")
        for t in params.tools:
            lines.append(f"- {t.name}: {t.description} Arguments (JSON schema): {json.dumps(t.parameters, separators=(',', ':'))}")
        lines.append('To call a tool, reply with only a JSON object: {"name": "<tool name>", "arguments": {...}}.')
        if params.tool_choice == "auto":
            lines.append("If no tool is needed, answer in plain text.")
        elif params.tool_choice != "required":
            lines.append(f"Call the tool {params.tool_choice}.")
    elif params.response_format is not None and params.response_format.type in ("json_object", "json_schema"):
        lines.append("Reply with only a JSON object.")
        if params.response_format.type == "json_schema" and params.response_format.schema:
            lines.append(f"It must match this JSON schema: {json.dumps(params.response_format.schema, separators=(',', ':'))}")
    return "\n".join(lines)


def as_template_messages(messages: list[ChatMessage], params: GenParams) -> list[dict]:
    """The conversation for the model's chat template (which knows no tools): the instructions
    join the system message, a call is the JSON the model wrote, a tool's result is a user turn."""
    out: list[dict] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "user", "content": f"Result of the tool {m.name or 'call'}: {m.content}"})
        elif m.role == "assistant" and m.tool_calls:
            written = [json.dumps({"name": c.name, "arguments": _loads(c.arguments)}) for c in m.tool_calls]
            out.append({"role": "assistant", "content": "\n".join(filter(None, [m.content, *written]))})
        else:
            out.append({"role": m.role, "content": m.content})
    if extra := instructions(params):
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + extra}
        else:
            out.insert(0, {"role": "system", "content": extra})
    return out


def read_call(text: str) -> ToolCall | None:
    """The call a constrained answer holds, or None when it was cut short (max_tokens)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    return ToolCall(f"call_{uuid.uuid4().hex[:24]}", value["name"], json.dumps(value.get("arguments", {})))


def _loads(text: str) -> object:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text
