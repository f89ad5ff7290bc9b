"""The OpenAI-compatible /v1 as a partner's agent uses it, with the official openai SDK against the
whole fleet: a tool-calling conversation (calls streamed and not, a `role: tool` answer, the final
text) with the fake upstream as the provider, JSON output from the embedded model held to a
schema by its grammar, embeddings from the platform's embedding model, and a clear 400 for what
is not served. The fake upstream records each request body: the tools and the tool messages
are checked where the provider receives them."""

from __future__ import annotations

import base64
import json
import struct

import openai
import pytest
from openai import OpenAI

from e2e_support import auth

pytestmark = pytest.mark.e2e

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.", "parameters": WEATHER}}]


@pytest.fixture
def client(fleet, alice) -> OpenAI:
    return OpenAI(base_url=f"{fleet.url}/v1", api_key=alice["Authorization"].removeprefix("Bearer "), max_retries=0)


@pytest.fixture
def upstream(fleet):
    fleet.upstream.control(reset=True, gap_ms=2.0)
    yield fleet.upstream
    fleet.upstream.control(reset=True, gap_ms=2.0)


def test_a_tool_calling_conversation_through_v1(client, upstream):
    upstream.control(tool_turns=[[{"id": "call_w1", "name": "get_weather", "arguments": '{"city": "Paris"}'}],
                                 [{"id": "call_w2", "name": "get_weather", "arguments": '{"city": "Rome"}'}]], script_piece=4)
    question = [{"role": "user", "content": "What is the weather in Paris?"}]

    # Streamed: the call arrives as delta.tool_calls chunks, then finish_reason tool_calls.
    stream = client.chat.completions.create(model="fake:fake-model", messages=question, tools=TOOLS, stream=True)
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for piece in choice.delta.tool_calls or ():
                call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = piece.id or call["id"]
                call["name"] = (piece.function and piece.function.name) or call["name"]
                call["arguments"] += (piece.function and piece.function.arguments) or ""
            finish = choice.finish_reason or finish
    assert calls == {0: {"id": "call_w1", "name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert finish == "tool_calls"
    sent = upstream.stats()["bodies"][-1]
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"

    # Not streamed: message.tool_calls.
    whole = client.chat.completions.create(model="fake:fake-model", messages=question, tools=TOOLS, tool_choice="required")
    message = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [("call_w2", "get_weather", {"city": "Rome"})]
    assert upstream.stats()["bodies"][-1]["tool_choice"] == "required"

    # The partner ran the tool: its result goes back as a `tool` message; the model answers.
    upstream.control(script="It is sunny in Paris.")
    final = client.chat.completions.create(model="fake:fake-model", tools=TOOLS, messages=[
        *question,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": '{"sky": "sunny"}'},
    ])
    assert final.choices[0].message.content == "It is sunny in Paris."
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls
    messages = upstream.stats()["bodies"][-1]["messages"]
    assert messages[-2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_w1", "content": '{"sky": "sunny"}'}


def test_json_output_from_the_embedded_model_follows_the_schema(client):
    schema = {"type": "object", "properties": {"fruit": {"type": "string"}, "count": {"type": "integer"}},
              "required": ["fruit", "count"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model="local:smollm2-135m-instruct", max_tokens=40, temperature=0,
        messages=[{"role": "user", "content": "Give a fruit and how many of it."}],
        response_format={"type": "json_schema", "json_schema": {"name": "fruit", "schema": schema}})
    value = json.loads(reply.choices[0].message.content)
    assert set(value) == {"fruit", "count"} and isinstance(value["fruit"], str) and isinstance(value["count"], int)
    plain = client.chat.completions.create(model="local:smollm2-135m-instruct", max_tokens=40, temperature=0,
                                           messages=[{"role": "user", "content": "Describe an apple as JSON."}],
                                           response_format={"type": "json_object"})
    assert isinstance(json.loads(plain.choices[0].message.content), dict)


def test_what_is_not_served_is_a_clear_400(client):
    for extra in ({"logprobs": True}, {"logprobs": True, "top_logprobs": 2}, {"frequency_penalty": 0.5}, {"logit_bias": {"50256": -100}}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="fake:fake-model", messages=[{"role": "user", "content": "hi"}], **extra)
        error = refused.value.body["error"] if "error" in refused.value.body else refused.value.body
        assert error["code"] == "VALIDATION_ERROR" and error["details"]["field"] == next(iter(extra)), error
    # Neutral values ask for nothing and pass.
    ok = client.chat.completions.create(model="fake:fake-model", messages=[{"role": "user", "content": "hi"}], max_tokens=3,
                                        logprobs=False, frequency_penalty=0)
    assert ok.choices[0].message.content


def test_embeddings_from_the_platform_model(client, fleet, alice, http):
    models = {m.id: m for m in client.models.list().data}
    assert models["all-MiniLM-L6-v2"].model_extra["kind"] == "embedding"
    assert models["all-MiniLM-L6-v2"].model_extra["dimensions"] == 384
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Quarterly revenue grew by 4 percent."]
    reply = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts, encoding_format="float")
    vectors = [d.embedding for d in reply.data]
    assert [d.index for d in reply.data] == [0, 1, 2] and all(len(v) == 384 for v in vectors)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731 - normalised vectors: cosine
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2]) + 0.3
    assert reply.usage.prompt_tokens == reply.usage.total_tokens and reply.usage.prompt_tokens >= 20
    # base64 (the SDK's default wire form, decoded by it) is the same float32 vector as the float
    # form of the same request (the int8 model's activations are quantised per batch: one text alone).
    one = {"model": "all-MiniLM-L6-v2", "input": texts[0]}
    floats_reply = http.post("/v1/embeddings", headers=auth(alice), json={**one, "encoding_format": "float"}).json()
    floats = floats_reply["data"][0]["embedding"]
    raw = http.post("/v1/embeddings", headers=auth(alice), json={**one, "encoding_format": "base64"}).json()
    decoded = struct.unpack("<384f", base64.b64decode(raw["data"][0]["embedding"]))
    assert max(abs(a - b) for a, b in zip(decoded, floats, strict=True)) < 1e-6
    assert dot(floats, vectors[0]) > 0.95
    # In the usage ledger like chat: the tokens the model read, on the embedding model.
    billed = reply.usage.prompt_tokens + floats_reply["usage"]["prompt_tokens"] + raw["usage"]["prompt_tokens"]
    report = http.get("/api/v1/usage", headers=auth(alice)).json()
    assert [(d["provider"], d["model"], d["kind"]) for d in report["days"]] == [("local", "all-MiniLM-L6-v2", "embedding")]
    assert (report["totals"]["prompt_tokens"], report["totals"]["completion_tokens"]) == (billed, 0)
    for bad in ({"input": []}, {"input": [[1, 2, 3]]}, {"input": "hi", "dimensions": 64}, {"input": ""}):
        refused = http.post("/v1/embeddings", headers=auth(alice), json={"model": "all-MiniLM-L6-v2", **bad})
        assert refused.status_code == 400 and set(refused.json()) == {"error"}, refused.text
    unknown = http.post("/v1/embeddings", headers=auth(alice), json={"model": "no-such-model", "input": "hi"})
    assert unknown.status_code == 400 and unknown.json()["error"]["details"]["field"] == "model"
