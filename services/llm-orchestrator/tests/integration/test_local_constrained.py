"""The embedded model (SmolLM2-135M, llama.cpp) held to a shape by grammars built from JSON
schemas: an answer in a json_schema format parses and validates, a required or named tool call
is one of the tools offered with schema-valid arguments, and "auto" yields either a valid call
or plain text. Greedy and short, so each case costs a second or two."""

from __future__ import annotations

import json

import jsonschema
import pytest

from chatbot_common.tokens import bundled_model_path
from llm_orchestrator.providers.base import ChatMessage, Delta, End, GenParams, ResponseFormat, ToolCall, ToolSpec
from llm_orchestrator.providers.local import LocalProvider

# One event loop for the module, as the provider (built once for the module) has in a service: its
# queue lock is given back by a callback on the loop that ran the generation, and with a loop per
# test a loop closed before that callback ran left the lock held, so the next test waited forever.
pytestmark = [pytest.mark.contract, pytest.mark.asyncio(loop_scope="module")]

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
           "required": ["city", "unit"], "additionalProperties": False}
SUM = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"],
       "additionalProperties": False}
TOOLS = (ToolSpec("get_weather", "Current weather for a city.", WEATHER), ToolSpec("add", "Add two integers.", SUM))


@pytest.fixture(scope="module")
def provider():
    local = LocalProvider(bundled_model_path(), "smollm2", n_ctx=2048, threads=2, max_queue=4, default_max_tokens=64, stream_interval=0)
    yield local


async def run(provider, question: str, params: GenParams) -> tuple[str, list[ToolCall], End]:
    text, calls, end = [], [], None
    async for item in provider.stream("smollm2", [ChatMessage("user", question)], params):
        if isinstance(item, Delta):
            text.append(item.text)
        elif isinstance(item, ToolCall):
            calls.append(item)
        else:
            end = item
    return "".join(text), calls, end


async def test_a_json_schema_format_gives_json_valid_against_the_schema(provider):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array",
              "items": {"type": "string"}, "maxItems": 3}}, "required": ["name", "age", "tags"], "additionalProperties": False}
    fmt = ResponseFormat("json_schema", schema, "person")
    text, calls, end = await run(provider, "Describe a person.", GenParams(temperature=0.0, max_tokens=80, response_format=fmt))
    assert not calls and end.finish_reason == "stop", text
    jsonschema.validate(json.loads(text), schema)


async def test_a_json_object_format_gives_an_object(provider):
    text, _, end = await run(provider, "Tell me about Paris.", GenParams(temperature=0.0, max_tokens=60,
                                                                         response_format=ResponseFormat("json_object")))
    assert end.finish_reason == "stop", text
    assert isinstance(json.loads(text), dict)


@pytest.mark.parametrize("choice", ["required", "get_weather", "add"])
async def test_a_required_or_named_call_is_a_valid_call_of_an_offered_tool(provider, choice):
    text, calls, end = await run(provider, "What is the weather in Oslo?", GenParams(temperature=0.0, max_tokens=60, tools=TOOLS,
                                                                                      tool_choice=choice))
    assert text == "" and len(calls) == 1 and end.finish_reason == "tool_calls"
    call = calls[0]
    assert call.name in {"get_weather", "add"} if choice == "required" else call.name == choice
    jsonschema.validate(json.loads(call.arguments), WEATHER if call.name == "get_weather" else SUM)
    assert call.id.startswith("call_")


async def test_auto_is_a_valid_call_or_plain_text(provider):
    for question in ("Add 2 and 3.", "Say hello."):
        text, calls, end = await run(provider, question, GenParams(temperature=0.0, max_tokens=40, tools=TOOLS))
        if calls:
            assert text == "" and end.finish_reason == "tool_calls"
            jsonschema.validate(json.loads(calls[0].arguments), WEATHER if calls[0].name == "get_weather" else SUM)
        else:
            assert text and not text.startswith("{") and end.finish_reason in ("stop", "length")
