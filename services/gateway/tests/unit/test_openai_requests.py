"""What a /v1 partner asks for, translated for the orchestrator, and what is refused with a 400
naming the parameter."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from chatbot.llm.v1 import llm_pb2
from chatbot_common.errors import AppError
from gateway.api.schemas.openai_compat import ChatCompletionIn, EmbeddingsIn
from gateway.openai_requests import embedding_out, embedding_texts, function_params, message_pb, refuse_unsupported

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": WEATHER}}


def body(**fields) -> ChatCompletionIn:
    return ChatCompletionIn.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields})


def refused_field(**fields) -> str:
    with pytest.raises(AppError) as refused:
        b = body(**fields)
        refuse_unsupported(b)
        function_params(b, llm_pb2.GenerationParams())
    assert refused.value.spec.http_status == 400
    return refused.value.details["field"]


@pytest.mark.parametrize("fields, field", [
    ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "top_logprobs"), ({"frequency_penalty": 0.2}, "frequency_penalty"),
    ({"presence_penalty": -1}, "presence_penalty"), ({"logit_bias": {"1": 5}}, "logit_bias"), ({"store": True}, "store"),
    ({"functions": [{"name": "f"}]}, "functions"), ({"made_up": 1}, "made_up"),
    ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"), ({"tools": [TOOL, TOOL]}, "tools.1.function.name"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]}, "tools.0.function.parameters"),
])
def test_what_is_not_served_is_refused_by_name(fields, field):
    assert refused_field(**fields) == field


def test_neutral_values_pass():
    refuse_unsupported(body(logprobs=False, frequency_penalty=0, presence_penalty=0.0, logit_bias={}, store=False, cache=False,
                            service_tier="auto", top_logprobs=0))


def test_tools_choice_and_format_in_the_orchestrators_words():
    params = llm_pb2.GenerationParams()
    function_params(body(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}},
                         response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER, "strict": True}}), params)
    assert [(t.name, t.description, json.loads(t.parameters)) for t in params.tools] == [("get_weather", "Weather.", WEATHER)]
    assert params.tool_choice == "get_weather"
    f = params.response_format
    assert (f.type, f.name, json.loads(f.schema), f.strict) == ("json_schema", "w", WEATHER, True)


def test_tool_messages_and_assistant_calls():
    b = body(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                               "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}])
    messages = [message_pb(i, m) for i, m in enumerate(b.messages)]
    assert [(c.id, c.name, c.arguments) for c in messages[1].tool_calls] == [("c1", "get_weather", '{"city": "Oslo"}')]
    assert (messages[2].role, messages[2].tool_call_id, messages[2].content) == ("tool", "c1", "sunny")
    with pytest.raises(AppError):
        message_pb(0, body(messages=[{"role": "tool", "content": "x"}]).messages[0])


def test_embedding_inputs_and_base64():
    assert embedding_texts(EmbeddingsIn(model="m", input="a text"), 10, 100) == ["a text"]
    for bad in ({"input": []}, {"input": [1, 2]}, {"input": [" "]}, {"input": ["x" * 101]}, {"input": ["a"] * 11},
                {"input": "a", "dimensions": 8}, {"input": "a", "other": 1}):
        with pytest.raises(AppError):
            embedding_texts(EmbeddingsIn(model="m", **bad), 10, 100)
    vector = [0.5, -0.25, 1.0]
    assert embedding_out(vector, "float") == vector
    assert struct.unpack("<3f", base64.b64decode(embedding_out(vector, "base64"))) == (0.5, -0.25, 1.0)


def _nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize("depth", [130, 300])
def test_a_schema_nested_too_deeply_is_a_400_not_a_500(depth):
    """orjson stops at 255 levels: such a schema (a 1 kB body) was a TypeError, a 500."""
    tool = {"type": "function", "function": {"name": "deep", "parameters": _nested(depth)}}
    assert refused_field(tools=[tool]) == "tools.0.function.parameters"
    fmt = {"type": "json_schema", "json_schema": {"name": "deep", "schema": _nested(depth)}}
    assert refused_field(response_format=fmt) == "response_format.json_schema.schema"


def test_a_schema_of_ordinary_depth_passes():
    params = llm_pb2.GenerationParams()
    function_params(body(tools=[{"type": "function", "function": {"name": "f", "parameters": _nested(20)}}]), params)
    assert json.loads(params.tools[0].parameters) == _nested(20)
