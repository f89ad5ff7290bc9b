"""Function calling through the orchestrator's gRPC front against a provider over real HTTP: the
fake upstream speaks OpenAI's wire and Anthropic's, streams scripted tool calls the way each
does (OpenAI: tool_calls deltas with index, id, name and argument fragments; Anthropic:
tool_use blocks with input_json_delta fragments) and keeps the request bodies, so each test
checks both what came back (whole calls, finish_reason tool_calls) and what reached the
provider in its own format (tools, tool_choice, response_format, calls and tool results)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import grpc
import pytest

from chatbot.common.v1 import common_pb2
from chatbot.llm.v1 import llm_pb2
from fake_openai_upstream import Upstream, start_upstream
from llm_orchestrator.pricing import ModelPrice
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract

WIRES = ("openai", "anthropic")
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]}
CLOCK = {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}
TOOLS = [llm_pb2.Tool(name="get_weather", description="The weather in a city.", parameters=json.dumps(WEATHER)),
         llm_pb2.Tool(name="get_time", description="The time in a zone.", parameters=json.dumps(CLOCK))]


@pytest.fixture(scope="module")
def upstream():
    up = start_upstream(tokens=4, gap_ms=1.0)
    yield up
    up.process.terminate()
    up.process.wait(10)


@pytest.fixture(autouse=True)
def clean(upstream):
    upstream.control(reset=True)


def settings_for(wire: str, upstream: Upstream, tmp_path) -> tuple[LlmSettings, str]:
    values: dict = dict(grpc_port=0, var_dir=tmp_path, local_enabled=False, max_attempts=1, stream_interval_ms=0, cache_enabled=False)
    if wire == "openai":
        values["openai_compatible"] = [{"name": "fake", "base_url": upstream.base_url, "models": ["fake-model"]}]
        return LlmSettings(**values), "fake:fake-model"
    values.update(anthropic_api_key="test-key", anthropic_base_url=upstream.base_url.removesuffix("/v1"), anthropic_models=["fake-model"])
    return LlmSettings(**values), "anthropic:fake-model"


def request(model: str, messages: list[llm_pb2.ChatMessage] | None = None, **params) -> llm_pb2.GenerateRequest:
    messages = messages or [llm_pb2.ChatMessage(role="user", content="Weather in Paris and the time in Tokyo?")]
    return llm_pb2.GenerateRequest(model=model, messages=messages, params=llm_pb2.GenerationParams(max_tokens=50, **params))


async def events_of(stub, req) -> list[llm_pb2.GenerateResponse]:
    return [e async for e in stub.Generate(req, timeout=30)]


CALLS = [{"id": "call_a1", "name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'},
         {"id": "call_b2", "name": "get_time", "arguments": '{"zone": "Asia/Tokyo"}'}]


@pytest.mark.parametrize("wire", WIRES)
async def test_streamed_tool_calls_arrive_whole_in_order_with_finish_reason_tool_calls(wire, upstream, tmp_path, serve_orchestrator):
    upstream.control(tool_turns=[CALLS], script_piece=4)  # arguments in 4-character fragments
    settings, model = settings_for(wire, upstream, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events = await events_of(stub, request(model, tools=TOOLS))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["start", "tool_call", "tool_call", "end"]
    calls = [(e.tool_call.id, e.tool_call.name, json.loads(e.tool_call.arguments)) for e in events[1:3]]
    assert calls == [("call_a1", "get_weather", {"city": "Paris", "unit": "c"}), ("call_b2", "get_time", {"zone": "Asia/Tokyo"})]
    assert events[-1].end.finish_reason == "tool_calls"

    body = upstream.stats()["bodies"][-1]
    if wire == "openai":
        assert body["tools"] == [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                                                    "parameters": WEATHER}},
                                 {"type": "function", "function": {"name": "get_time", "description": "The time in a zone.",
                                                                    "parameters": CLOCK}}]
        assert body["tool_choice"] == "auto"
    else:
        assert body["tools"] == [{"name": "get_weather", "description": "The weather in a city.", "input_schema": WEATHER},
                                 {"name": "get_time", "description": "The time in a zone.", "input_schema": CLOCK}]
        assert body["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize("wire", WIRES)
async def test_text_before_a_call_comes_first_and_complete_returns_the_calls(wire, upstream, tmp_path, serve_orchestrator):
    upstream.control(tool_turns=[CALLS[:1]], script="Let me look.", script_piece=5)
    settings, model = settings_for(wire, upstream, tmp_path)
    async with serve_orchestrator(settings) as stub:
        reply = await stub.Complete(request(model, tools=TOOLS), timeout=30)
    assert reply.text == "Let me look."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [("call_a1", "get_weather", {"city": "Paris", "unit": "c"})]
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize("wire", WIRES)
async def test_calls_and_tool_results_reach_the_provider_in_its_format(wire, upstream, tmp_path, serve_orchestrator):
    upstream.control(script="It is 18 degrees in Paris.")
    settings, model = settings_for(wire, upstream, tmp_path)
    history = [
        llm_pb2.ChatMessage(role="system", content="Be brief."),
        llm_pb2.ChatMessage(role="user", content="Weather in Paris and the time in Tokyo?"),
        llm_pb2.ChatMessage(role="assistant", content="", tool_calls=[llm_pb2.ToolCall(**c) for c in CALLS]),
        llm_pb2.ChatMessage(role="tool", content='{"temp": 18}', tool_call_id="call_a1", name="get_weather"),
        llm_pb2.ChatMessage(role="tool", content='{"time": "09:00"}', tool_call_id="call_b2", name="get_time"),
    ]
    async with serve_orchestrator(settings) as stub:
        events = await events_of(stub, request(model, history, tools=TOOLS))
    assert "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta") == "It is 18 degrees in Paris."
    assert events[-1].end.finish_reason == "stop"
    messages = upstream.stats()["bodies"][-1]["messages"]
    if wire == "openai":
        assert messages[2] == {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}},
            {"id": "call_b2", "type": "function", "function": {"name": "get_time", "arguments": '{"zone": "Asia/Tokyo"}'}}]}
        assert messages[3:] == [{"role": "tool", "tool_call_id": "call_a1", "content": '{"temp": 18}'},
                                {"role": "tool", "tool_call_id": "call_b2", "content": '{"time": "09:00"}'}]
    else:
        body = upstream.stats()["bodies"][-1]
        assert body["system"] == "Be brief."
        assert messages[1] == {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_a1", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}},
            {"type": "tool_use", "id": "call_b2", "name": "get_time", "input": {"zone": "Asia/Tokyo"}}]}
        # Both results in the one user turn that follows the calls.
        assert messages[2:] == [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_a1", "content": '{"temp": 18}'},
            {"type": "tool_result", "tool_use_id": "call_b2", "content": '{"time": "09:00"}'}]}]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("choice", ["required", "none", "get_time"])
async def test_tool_choice_is_translated(wire, choice, upstream, tmp_path, serve_orchestrator):
    settings, model = settings_for(wire, upstream, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events = await events_of(stub, request(model, tools=TOOLS, tool_choice=choice))
    sent = upstream.stats()["bodies"][-1]["tool_choice"]
    expected = {
        "openai": {"required": "required", "none": "none", "get_time": {"type": "function", "function": {"name": "get_time"}}},
        "anthropic": {"required": {"type": "any"}, "none": {"type": "none"}, "get_time": {"type": "tool", "name": "get_time"}},
    }[wire][choice]
    assert sent == expected
    if choice == "get_time":  # the provider honours a forced call
        assert [e.tool_call.name for e in events if e.WhichOneof("event") == "tool_call"] == ["get_time"]


@pytest.mark.parametrize("wire", WIRES)
async def test_a_json_schema_response_format_reaches_the_provider_and_the_answer_is_its_json(wire, upstream, tmp_path, serve_orchestrator):
    upstream.control(script='{"city": "Paris"}', script_piece=3)
    settings, model = settings_for(wire, upstream, tmp_path)
    fmt = llm_pb2.ResponseFormat(type="json_schema", name="place", schema=json.dumps(WEATHER), strict=True)
    async with serve_orchestrator(settings) as stub:
        events = await events_of(stub, request(model, response_format=fmt))
    text = "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta")
    assert json.loads(text) == {"city": "Paris"}
    assert not [e for e in events if e.WhichOneof("event") == "tool_call"]
    assert events[-1].end.finish_reason == "stop"
    body = upstream.stats()["bodies"][-1]
    if wire == "openai":
        assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "place", "schema": WEATHER, "strict": True}}
    else:
        # Anthropic: a forced call of a tool whose input schema is the format's; its input is the answer.
        assert body["tool_choice"] == {"type": "tool", "name": "__response_format"}
        assert body["tools"][0]["input_schema"] == WEATHER


async def test_a_json_object_response_format_reaches_an_openai_compatible_provider(upstream, tmp_path, serve_orchestrator):
    settings, model = settings_for("openai", upstream, tmp_path)
    async with serve_orchestrator(settings) as stub:
        await events_of(stub, request(model, response_format=llm_pb2.ResponseFormat(type="json_object")))
    assert upstream.stats()["bodies"][-1]["response_format"] == {"type": "json_object"}


async def test_a_request_with_tools_is_never_answered_from_the_semantic_cache(upstream, tmp_path, serve_orchestrator):
    """The same cacheable question twice: plain, the second is the cache's; with tools, both go
    to the provider."""
    upstream.control(script="Sunny.")
    settings, model = settings_for("openai", upstream, tmp_path)
    settings = settings.model_copy(update={"cache_enabled": True})
    caller = common_pb2.Caller(user_id="u1", tenant_id="t1")
    async with serve_orchestrator(settings) as stub:
        for tools in ([], [], TOOLS, TOOLS):
            req = request(model, [llm_pb2.ChatMessage(role="user", content="What is the weather like today?")], tools=tools)
            req.cacheable = True
            req.caller.CopyFrom(caller)
            await events_of(stub, req)
    assert upstream.stats()["requests"] == 3, "the plain question once (then cached), the one with tools twice"


async def test_embeddings_from_the_platform_model_and_from_a_provider(upstream, tmp_path, serve_orchestrator):
    """Embed: the platform's embedding model by default (384 normalised dimensions, its tokenizer's
    count), an OpenAI-compatible provider's embeddings API for "provider:model" (vectors put back
    in input order), an unknown model refused; ListModels names the embedding model."""
    settings, _ = settings_for("openai", upstream, tmp_path)
    texts = ["The cat sat on the mat.", "Quarterly revenue grew."]
    async with serve_orchestrator(settings) as stub:
        models = await stub.ListModels(llm_pb2.ListModelsRequest(), timeout=30)
        local = await stub.Embed(llm_pb2.EmbedRequest(texts=texts), timeout=120)
        remote = await stub.Embed(llm_pb2.EmbedRequest(model="fake:text-embed", texts=texts), timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.Embed(llm_pb2.EmbedRequest(model="nobody:thing", texts=texts), timeout=30)
    assert [(m.id, m.dimensions) for m in models.embedding_models] == [("all-MiniLM-L6-v2", 384)]
    assert local.model == "all-MiniLM-L6-v2" and [len(e.values) for e in local.embeddings] == [384, 384]
    assert all(abs(sum(v * v for v in e.values) - 1) < 1e-3 for e in local.embeddings)
    assert local.prompt_tokens >= 10  # word pieces with [CLS] and [SEP]
    body = upstream.stats()["bodies"][-1]
    assert body == {"model": "text-embed", "input": texts, "encoding_format": "float"}
    first = [round(b / 255, 6) for b in hashlib.sha256(texts[0].encode()).digest()[:8]]
    assert remote.model == "fake:text-embed" and [round(v, 6) for v in remote.embeddings[0].values] == first
    assert remote.prompt_tokens == 9  # what the provider billed (the fake: words)
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert local.cost == "0" and remote.cost == ""  # the embedded model is free; the provider's has no price here


async def test_provider_embeddings_without_usage_are_estimated_and_priced(upstream, tmp_path, serve_orchestrator):
    """A server that answers /v1/embeddings with no usage field still read the texts: they count
    as the byte estimate (UTF-8 bytes / 3 + 1 per text), and are priced like any tokens."""
    upstream.control(embedding_usage=False)
    settings, _ = settings_for("openai", upstream, tmp_path)
    settings.prices = {"fake:text-embed": ModelPrice(input=Decimal("0.02"), output=Decimal(0))}
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by 4 percent in the third quarter."]
    async with serve_orchestrator(settings) as stub:
        reply = await stub.Embed(llm_pb2.EmbedRequest(model="fake:text-embed", texts=texts), timeout=30)
    assert len(reply.embeddings) == 2
    expected = sum(len(t.encode()) // 3 + 1 for t in texts)
    assert reply.prompt_tokens == expected == 28
    assert Decimal(reply.cost) == expected * Decimal("0.02") / 1_000_000
