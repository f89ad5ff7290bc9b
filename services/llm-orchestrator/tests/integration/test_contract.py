"""The orchestrator's gRPC contract on an in-process server: the real embedded model, and an
OpenAI-compatible fake upstream (a separate process, over HTTP) for the remote provider."""

import grpc
import pytest

from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc
from chatbot_common.grpc_server import start_grpc
from llm_orchestrator.server import build_service
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract


@pytest.fixture
async def stub(fake_upstream, tmp_path):
    settings = LlmSettings(
        grpc_port=0, var_dir=tmp_path, max_attempts=2, backoff_base_seconds=0.01,
        breaker_failure_threshold=2, breaker_cooldown_seconds=60,
        openai_compatible=[{"name": "fake", "base_url": fake_upstream.base_url, "models": ["fake-model"], "context_window": 8192}],
        model_aliases={"default": ["local:smollm2-135m-instruct"], "resilient": ["fake:fake-model", "local:smollm2-135m-instruct"]},
    )
    running = await start_grpc(build_service(settings), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    yield llm_pb2_grpc.LlmOrchestratorStub(channel)
    await channel.close()
    await running.stop(1)


def request(model="default", text="Name a colour.", **params):
    return llm_pb2.GenerateRequest(
        model=model, messages=[llm_pb2.ChatMessage(role="user", content=text)],
        params=llm_pb2.GenerationParams(max_tokens=params.get("max_tokens", 24), temperature=0.0),
    )


async def collect(stub, req):
    events = [r async for r in stub.Generate(req, timeout=60)]
    return events


async def test_local_model_streams_start_deltas_end(stub):
    events = await collect(stub, request())
    assert events[0].WhichOneof("event") == "start"
    assert (events[0].start.provider, events[0].start.model) == ("local", "smollm2-135m-instruct")
    deltas = [e.delta.text for e in events if e.WhichOneof("event") == "delta"]
    end = events[-1].end
    assert events[-1].WhichOneof("event") == "end"
    assert "".join(deltas).strip(), "the model produced text"
    assert end.usage.prompt_tokens > 5 and 0 < end.usage.completion_tokens <= 24
    assert end.usage.total_tokens == end.usage.prompt_tokens + end.usage.completion_tokens
    assert end.finish_reason in ("stop", "length")


async def test_remote_provider_over_http(stub, fake_upstream):
    events = await collect(stub, request("fake:fake-model"))
    assert events[0].start.provider == "fake"
    text = "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta")
    assert text.startswith("tok0 ")
    assert events[-1].end.usage.completion_tokens == 8


async def test_fallback_to_local_when_upstream_fails(stub, fake_upstream):
    fake_upstream.control(fail_next=10, status=503)
    events = await collect(stub, request("resilient"))
    assert events[0].start.provider == "local", "the first chunk names the provider actually used"
    # retried (max_attempts=2) before falling back
    assert fake_upstream.stats()["requests"] == 2
    # two consecutive failures opened the circuit: the next call skips the upstream entirely
    events = await collect(stub, request("resilient"))
    assert events[0].start.provider == "local"
    assert fake_upstream.stats()["requests"] == 2
    models = await stub.ListModels(llm_pb2.ListModelsRequest(), timeout=5)
    fake = next(m for m in models.models if m.id == "fake:fake-model")
    assert not fake.available


async def test_non_retryable_upstream_error_is_not_retried(stub, fake_upstream):
    fake_upstream.control(fail_next=1, status=400)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await collect(stub, request("fake:fake-model"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(info.value.trailing_metadata())["x-error-code"] == "VALIDATION_ERROR"
    assert fake_upstream.stats()["requests"] == 1


async def test_rate_limit_maps_to_resource_exhausted(stub, fake_upstream):
    fake_upstream.control(fail_next=5, status=429)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await collect(stub, request("fake:fake-model"))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_an_unknown_model_is_invalid(stub):
    # Roles and parameters are the callers' to get right (llm.proto); the model is known here only.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await collect(stub, request("no-such-model"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.CountTokens(llm_pb2.CountTokensRequest(model="no-such-model", texts=["x"]), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_complete_and_count_tokens(stub):
    reply = await stub.Complete(request(max_tokens=8), timeout=60)
    assert reply.provider == "local" and reply.text and reply.usage.completion_tokens <= 8
    counts = await stub.CountTokens(llm_pb2.CountTokensRequest(model="default", texts=["hello world", "a much longer sentence than that"]), timeout=5)
    assert counts.exact and counts.counts[0] < counts.counts[1]
    # The catalogue names the tokenizer that counts a model exactly (the conversation service
    # counts with the same one): the embedded model's, for the local model only.
    models = {m.id: m for m in (await stub.ListModels(llm_pb2.ListModelsRequest(), timeout=5)).models}
    assert models["local:smollm2-135m-instruct"].tokenizer == counts.tokenizer and models["default"].tokenizer == counts.tokenizer
    assert models["fake:fake-model"].tokenizer == "" and models["resilient"].tokenizer == ""


async def test_concurrent_requests_to_the_local_model_all_complete(stub):
    import asyncio

    results = await asyncio.gather(*(collect(stub, request(max_tokens=6)) for _ in range(4)))
    assert all(r[-1].WhichOneof("event") == "end" for r in results)


async def test_a_silent_provider_is_given_up_at_its_first_token_deadline_not_retried(fake_upstream, tmp_path):
    """A provider that accepts the request and then says nothing (a hung server, over real HTTP)
    is left after its first-token deadline, once, for the next in the chain."""
    import time

    from fake_openai_upstream import start_upstream

    silent = start_upstream(gap_ms=60_000)
    try:
        settings = LlmSettings(
            grpc_port=0, var_dir=tmp_path, max_attempts=3, backoff_base_seconds=0.01, local_enabled=False,
            openai_compatible=[
                {"name": "silent", "base_url": silent.base_url, "models": ["fake-model"], "first_token_timeout_seconds": 1.0},
                {"name": "fake", "base_url": fake_upstream.base_url, "models": ["fake-model"]},
            ],
            model_aliases={"default": ["silent:fake-model", "fake:fake-model"]},
        )
        running = await start_grpc(build_service(settings), settings)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            started = time.monotonic()
            events = await collect(llm_pb2_grpc.LlmOrchestratorStub(channel), request())
            waited = time.monotonic() - started
        finally:
            await channel.close()
            await running.stop(1)
        assert events[0].start.provider == "fake" and events[-1].WhichOneof("event") == "end"
        assert silent.stats()["requests"] == 1, "a silence is not retried on the same provider"
        assert waited < 30, waited  # one 1 s deadline, not the 60 s the silent server would take
    finally:
        silent.process.terminate()
        silent.process.wait(10)


async def test_a_stream_cut_midway_is_a_provider_error_after_all_the_text_it_sent(stub, fake_upstream):
    """The connection breaks after some chunks (a reset, over real HTTP): the caller gets every
    piece of text the provider sent, the output filter's held-back tail included, then a
    provider error (retryable), never an internal one; and no other provider's text is spliced on."""
    script = "w0 w1 w2 w3 w4 w5 w6 w7"
    fake_upstream.control(script=script, script_piece=3, cut_after=5)
    try:
        events = []
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for event in stub.Generate(request("resilient"), timeout=60):
                events.append(event)
    finally:
        fake_upstream.control(script="", script_piece=3, cut_after=0)
    assert events[0].start.provider == "fake"
    text = "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta")
    assert text == script[:15], text  # the five 3-character pieces sent before the break
    # the provider's failure as the error table has it: unavailable, worth retrying
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert dict(info.value.trailing_metadata())["x-error-code"] == "SERVICE_UNAVAILABLE"
