"""Running a call as the model wrote it: bad JSON, a wrong shape, a schema violation, a tool that
fails, hangs, raises or answers too much all come back as an error observation the model can
act on, never as an exception; logs carry no argument values."""

import asyncio
import logging

import pytest

from llm_orchestrator.providers.base import ToolCall, ToolSpec
from llm_orchestrator.tools.base import ToolContext, ToolError, ToolResult
from llm_orchestrator.tools.registry import ToolRegistry
from llm_orchestrator.tools.running import InvalidArguments, run_tool, validate_arguments

CTX = ToolContext(tenant_id="acme", user_id="usr_alice", roles=("member",), run_id="run_1")

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "unit": {"enum": ["C", "F"]},
    },
    "required": ["city"],
    "additionalProperties": False,
}


class Recorder:
    """A tool that records what it was called with and answers as told."""

    def __init__(self, name="weather", answer=None, sleep=0.0, timeout=5.0, sensitive=False, schema=SCHEMA):
        self.spec = ToolSpec(name, "test tool", schema)
        self.sensitive = sensitive
        self.timeout = timeout
        self.calls: list[dict] = []
        self._answer = answer
        self._sleep = sleep

    async def call(self, arguments, context):
        self.calls.append(arguments)
        if self._sleep:
            await asyncio.sleep(self._sleep)
        if isinstance(self._answer, BaseException):
            raise self._answer
        return self._answer if self._answer is not None else ToolResult(f"sunny in {arguments['city']}", data={"ok": True})


async def test_valid_call_runs():
    tool = Recorder()
    result = await run_tool(tool, '{"city": "Berlin", "days": 3}', CTX)
    assert result == ToolResult("sunny in Berlin")
    assert result.data == {"ok": True}
    assert tool.calls == [{"city": "Berlin", "days": 3}]


@pytest.mark.parametrize(("arguments", "says"), [
    ('{"city": "Berlin"', "not valid JSON at character 17"),
    ("city=Berlin", "not valid JSON"),
    ('["Berlin"]', "must be a JSON object, not list"),
    ('"Berlin"', "must be a JSON object, not str"),
    ('{"city": NaN}', "not valid JSON"),
    ("{}", "'city' is a required property"),
    ('{"city": "B"}', "at 'city': 'B' is too short"),
    ('{"city": "Berlin", "days": 30}', "at 'days': 30 is greater than the maximum of 14"),
    ('{"city": "Berlin", "days": "3"}', "at 'days': '3' is not of type 'integer'"),
    ('{"city": "Berlin", "unit": "K"}', "at 'unit': 'K' is not one of ['C', 'F']"),
    ('{"city": "Berlin", "when": "today"}', "Additional properties are not allowed ('when' was unexpected)"),
    ("x" * 70_000, "arguments are too long"),
])
async def test_invalid_arguments_are_an_observation_and_the_tool_never_runs(arguments, says):
    tool = Recorder()
    result = await run_tool(tool, arguments, CTX)
    assert result.is_error
    assert says in result.content
    assert tool.calls == []


def test_several_problems_are_reported_together_and_long_values_cut():
    with pytest.raises(InvalidArguments) as caught:
        validate_arguments(Recorder().spec, {"city": "B" * 0, "days": 0, "unit": "K", "x": 1, "y": 2})
    message = str(caught.value)
    assert message.count(";") == 2 and "(and 1 more)" in message
    with pytest.raises(InvalidArguments) as caught:
        validate_arguments(Recorder().spec, {"city": 12345, "unit": "Z" * 5000})
    assert len(str(caught.value)) < 600


def test_blank_arguments_mean_none():
    spec = ToolSpec("now", "no arguments")
    assert validate_arguments(spec, "") == {}
    assert validate_arguments(spec, "  ") == {}
    assert validate_arguments(spec, None) == {}


async def test_an_invalid_schema_is_an_error_not_a_crash():
    tool = Recorder(schema={"type": "object", "properties": {"a": {"type": "no-such-type"}}})
    result = await run_tool(tool, '{"a": 1}', CTX)
    assert result.is_error and "invalid argument schema" in result.content
    assert tool.calls == []


async def test_tool_error_timeout_and_exceptions_become_observations(caplog):
    caplog.set_level(logging.INFO)
    failing = await run_tool(Recorder(answer=ToolError("the city is unknown")), '{"city": "Atlantis"}', CTX)
    assert failing == ToolResult("Error: the city is unknown", is_error=True)
    slow = await run_tool(Recorder(sleep=30, timeout=0.05), '{"city": "Berlin"}', CTX)
    assert slow.is_error and "did not finish within 0.05 seconds" in slow.content
    broken = await run_tool(Recorder(answer=RuntimeError("password=hunter2 for alice@example.com")), '{"city": "Paris"}', CTX)
    assert broken.is_error and "failed unexpectedly" in broken.content and "hunter2" not in broken.content
    wrong = await run_tool(Recorder(answer="not a ToolResult"), '{"city": "Rome"}', CTX)
    assert wrong.is_error and "returned no result" in wrong.content
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    for value in ("Atlantis", "Berlin", "Paris", "Rome", "hunter2", "alice@example.com"):
        assert value not in logged
    assert "timeout" in logged and "exception" in logged and "RuntimeError" in logged


async def test_cancellation_is_not_swallowed():
    task = asyncio.create_task(run_tool(Recorder(sleep=30), '{"city": "Berlin"}', CTX))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_observation_is_capped():
    tool = Recorder(answer=ToolResult("x" * 50_000, data={"rows": 1}))
    result = await run_tool(tool, '{"city": "Berlin"}', CTX, max_chars=1_000)
    assert len(result.content) <= 1_000
    kept = result.content.split("\n[truncated")[0]
    assert kept == "x" * len(kept) and len(kept) > 900
    assert result.content.endswith(f"[truncated: {50_000 - len(kept)} more characters]")
    assert result.data == {"rows": 1}


async def test_tool_set_for_a_caller():
    admin_only, everyone = Recorder("admin_tool"), Recorder("weather")

    class Extra:
        def __init__(self, tools):
            self.tools = tools

        async def tools_for(self, context):
            return self.tools

    class Down:
        async def tools_for(self, context):
            raise ConnectionError("MCP server down")

    registry = ToolRegistry([admin_only, everyone], roles={"admin_tool": ["admin"]})
    registry.add_provider(Down())
    registry.add_provider(Extra([Recorder("weather", answer=ToolResult("shadow")), Recorder("mcp_lookup", sensitive=True)]))
    member = await registry.for_caller(CTX)
    assert [s.name for s in member.specs()] == ["weather", "mcp_lookup"]
    assert member.is_sensitive("mcp_lookup") and not member.is_sensitive("weather")
    admin = await registry.for_caller(ToolContext("acme", "usr_root", roles=("admin",)))
    assert "admin_tool" in admin
    chosen = await registry.for_caller(ToolContext("acme", "usr_root", roles=("admin",)), names=["weather"])
    assert len(chosen) == 1

    # The built-in answers (the provider's same-named tool is not taken), an unknown or withheld
    # tool is an error observation naming the tools there are.
    assert (await member.run(ToolCall("c1", "weather", '{"city": "Oslo"}'), CTX)).content == "sunny in Oslo"
    refused = await member.run(ToolCall("c2", "admin_tool", "{}"), CTX)
    assert refused.is_error and "no tool named 'admin_tool'" in refused.content and "weather, mcp_lookup" in refused.content
    assert admin_only.calls == []
    bad = await member.run(ToolCall("c3", "weather", '{"city": 5}'), CTX)
    assert bad.is_error and "not of type 'string'" in bad.content


# ^(a|aa)+$ backtracks through every way of splitting the a's (Fibonacci many: ~10^12 for 60),
# so without a bound the check never ends, on the event loop every run shares.
SLOW = "^(a|aa)+$"


@pytest.mark.parametrize("parameters, arguments", [
    ({"type": "object", "properties": {"x": {"type": "string", "pattern": SLOW}}}, {"x": "a" * 60 + "!"}),
    ({"type": "object", "patternProperties": {SLOW: {"type": "string"}}}, {"a" * 60 + "!": "v"}),
    ({"type": "object", "properties": {}, "patternProperties": {SLOW: {}}, "additionalProperties": False}, {"a" * 60 + "!": 1}),
])
def test_a_schemas_backtracking_pattern_is_given_up_on_not_run_to_the_end(parameters, arguments):
    """An MCP server's schema is its own: its regular expressions are matched under a time bound."""
    with pytest.raises(InvalidArguments, match="took too long"):
        validate_arguments(ToolSpec("crm__lookup", "d", parameters), arguments)


def test_patterns_still_decide_as_the_schema_says():
    spec = ToolSpec("t", "d", {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}},
                               "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False})
    assert validate_arguments(spec, {"code": "ABC-12", "x-n": 3}) == {"code": "ABC-12", "x-n": 3}
    for bad, says in (({"code": "abc"}, "does not match"), ({"code": "ABC-1", "x-n": "3"}, "not of type"),
                      ({"code": "ABC-1", "other": 1}, "Additional properties")):
        with pytest.raises(InvalidArguments, match=says):
            validate_arguments(spec, bad)
