"""Running one tool call safely: the model's argument text parsed and validated against the
tool's JSON schema before anything executes, the tool's time limit applied, the observation
capped, and every failure turned into an error result the model can read and act on.

Nothing here raises to the caller except cancellation (the run itself was stopped). Logs name
the tool, the outcome and the time taken, never the arguments or the observation: both may
carry personal data the user typed or a tool returned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import jsonschema
import regex
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import extend, validator_for

from llm_orchestrator.providers.base import ToolSpec
from llm_orchestrator.tools.base import Tool, ToolContext, ToolError, ToolResult

log = logging.getLogger(__name__)

# What the model reads back from one call; the rest is cut with a note saying so.
DEFAULT_MAX_OBSERVATION_CHARS = 8_000
# Argument text longer than this is refused before it is parsed.
MAX_ARGUMENT_CHARS = 64_000
# A schema violation is reported with at most this many problems, each cut to this length
# (a validator's message quotes the offending value, which may be long).
MAX_REPORTED_PROBLEMS = 3
MAX_PROBLEM_CHARS = 200
# A schema's regular expressions (an MCP server's, whoever runs it) meet the model's text: a
# pattern like ^(a+)+$ backtracks for minutes on 40 characters, and the check runs on the event
# loop, so each match gets this long (the `regex` module's timeout) and is a failure after it.
PATTERN_SECONDS = 0.1


class InvalidArguments(ToolError):
    """The call's arguments are not JSON, not an object, or break the tool's schema."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_arguments(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The argument object of a call, from the text the model wrote (blank means no arguments)."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    if len(text) > MAX_ARGUMENT_CHARS:
        raise InvalidArguments(f"arguments are too long ({len(text)} characters, at most {MAX_ARGUMENT_CHARS})")
    if not text.strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        where = f" at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidArguments(f"arguments are not valid JSON{where}: write one JSON object") from None
    if not isinstance(value, dict):
        raise InvalidArguments(f"arguments must be a JSON object, not {type(value).__name__}")
    return value


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message if len(error.message) <= MAX_PROBLEM_CHARS else error.message[:MAX_PROBLEM_CHARS] + "…"
    return f"at '{where}': {message}" if where else message


class _SlowPattern(Exception):
    pass


def _search(pattern: str, text: str) -> bool:
    try:
        return regex.search(pattern, text, timeout=PATTERN_SECONDS) is not None
    except TimeoutError:
        raise _SlowPattern from None
    except regex.error:
        return False


def _pattern(validator, pattern: str, instance: Any, schema: Mapping[str, Any]):
    if not validator.is_type(instance, "string"):
        return
    try:
        if not _search(pattern, instance):
            yield ValidationError(f"{instance[:60]!r} does not match {pattern[:60]!r}")
    except _SlowPattern:
        yield ValidationError(f"matching {pattern[:60]!r} took too long")


def _pattern_properties(validator, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            try:
                matched = _search(pattern, key)
            except _SlowPattern:
                yield ValidationError(f"matching the name {key[:60]!r} against {pattern[:60]!r} took too long")
                continue
            if matched:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator, additional: Any, instance: Any, schema: Mapping[str, Any]):
    if not validator.is_type(instance, "object"):
        return
    named, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    extras = []
    for key in instance:
        if key in named:
            continue
        try:
            if not any(_search(pattern, key) for pattern in patterns):
                extras.append(key)
        except _SlowPattern:
            yield ValidationError(f"matching the name {key[:60]!r} took too long")
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(instance[key], additional, path=key)
    elif additional is False and extras:
        names, verb = ", ".join(repr(k[:60]) for k in extras[:5]), "was" if len(extras) == 1 else "were"
        yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


_BOUNDED = {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties}
_validators: dict[type, type] = {}


def _bounded(cls: type) -> type:
    """The draft's validator with every regular expression matched under PATTERN_SECONDS."""
    if cls not in _validators:
        _validators[cls] = extend(cls, {k: v for k, v in _BOUNDED.items() if k in cls.VALIDATORS})
    return _validators[cls]


def validate_arguments(spec: ToolSpec, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments, parsed and valid against `spec.parameters`; InvalidArguments otherwise, with
    a message naming where and what is wrong, so the model can correct its call."""
    value = parse_arguments(arguments)
    try:
        cls = validator_for(spec.parameters)
        cls.check_schema(spec.parameters)
    except SchemaError:
        raise ToolError(f"tool {spec.name!r} has an invalid argument schema and cannot be called") from None
    validator = _bounded(cls)(spec.parameters, format_checker=cls.FORMAT_CHECKER)
    problems = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if problems:
        shown = "; ".join(_describe(p) for p in problems[:MAX_REPORTED_PROBLEMS])
        more = f" (and {len(problems) - MAX_REPORTED_PROBLEMS} more)" if len(problems) > MAX_REPORTED_PROBLEMS else ""
        raise InvalidArguments(f"invalid arguments for {spec.name}: {shown}{more}")
    return value


def check_arguments(tool: Tool, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """validate_arguments for a tool (the agent loop's check before a call runs or waits for approval)."""
    return validate_arguments(tool.spec, arguments)


def cap(content: str, max_chars: int = DEFAULT_MAX_OBSERVATION_CHARS) -> str:
    """The observation cut to `max_chars`, saying how much was left out."""
    if len(content) <= max_chars:
        return content
    note = f"\n[truncated: {len(content) - max_chars} more characters]"
    kept = max(0, max_chars - len(note) - 2)  # room for the count growing by a digit or two
    return content[:kept] + f"\n[truncated: {len(content) - kept} more characters]"


def error_result(message: str, max_chars: int = DEFAULT_MAX_OBSERVATION_CHARS) -> ToolResult:
    return ToolResult(content=cap(f"Error: {message}", max_chars), is_error=True)


async def execute(tool: Tool, arguments: dict[str, Any], context: ToolContext,
                  max_chars: int = DEFAULT_MAX_OBSERVATION_CHARS) -> ToolResult:
    """Calls a tool with arguments already validated (run_tool, or a person's approved edit
    validated with validate_arguments): its time limit applied, every failure an error result."""
    name = tool.spec.name
    started = time.perf_counter()
    outcome = "ok"
    try:
        async with asyncio.timeout(tool.timeout):
            result = await tool.call(arguments, context)
        if not isinstance(result, ToolResult):
            outcome = "bad_result"
            return error_result(f"tool {name} returned no result", max_chars)
        if result.is_error:
            outcome = "tool_error"
        return ToolResult(cap(result.content, max_chars), result.is_error, result.data)
    except ToolError as exc:
        outcome = "tool_error"
        return error_result(str(exc) or f"tool {name} failed", max_chars)
    except TimeoutError:
        outcome = "timeout"
        return error_result(f"tool {name} did not finish within {tool.timeout:g} seconds", max_chars)
    except Exception as exc:  # noqa: BLE001 - a tool's bug must not end the run; the model is told
        outcome = "exception"
        # The exception's text may quote the arguments (a driver echoing a query): only its type.
        log.warning("tool %s raised %s", name, type(exc).__name__,
                    extra={"tool": name, "run_id": context.run_id, "request_id": context.request_id})
        return error_result(f"tool {name} failed unexpectedly", max_chars)
    finally:
        log.info("tool call %s: %s", name, outcome, extra={
            "tool": name, "outcome": outcome, "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "run_id": context.run_id, "request_id": context.request_id, "tenant_id": context.tenant_id,
        })


async def run_tool(tool: Tool, arguments: str | Mapping[str, Any] | None, context: ToolContext,
                   max_chars: int = DEFAULT_MAX_OBSERVATION_CHARS) -> ToolResult:
    """One call as the model wrote it: validated, then executed. Never raises (but cancellation)."""
    try:
        valid = validate_arguments(tool.spec, arguments)
    except ToolError as exc:
        log.info("tool call %s: invalid_arguments", tool.spec.name, extra={
            "tool": tool.spec.name, "outcome": "invalid_arguments", "run_id": context.run_id, "request_id": context.request_id})
        return error_result(str(exc), max_chars)
    return await execute(tool, valid, context, max_chars)
