"""Fault injection against real HTTP providers: two fake upstream processes on loopback, each
speaking OpenAI's wire and Anthropic's, scripted to answer 429 with Retry-After, 500, 503, 400,
401, to hang, to break the connection, to send a chunk that is not JSON, to go silent midway or
to cut the stream. The orchestrator runs as a real gRPC server in front of them.

What must hold whatever the fault: retries only on retryable failures, Retry-After honoured,
fallback in the configured order, exactly one upstream request per attempt, a failure after text
was sent ends the answer (no second provider's text spliced on), and every failure reaches the
caller as the one error table has it, with its retryable flag, never as an internal error."""

from __future__ import annotations

import time

import grpc
import orjson
import pytest

from chatbot.llm.v1 import llm_pb2
from fake_openai_upstream import Upstream, start_upstream
from llm_orchestrator.providers.base import ChatMessage, Delta, End, GenParams
from llm_orchestrator.providers.openai import OpenAIProvider
from llm_orchestrator.resilience import BreakerState, CircuitBreaker
from llm_orchestrator.router import Router, RouterPolicy
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract

WIRES = ("openai", "anthropic")
FIRST = "primary:fake-model"  # the first provider of the chain, named as `settings_for` names it


@pytest.fixture(scope="module")
def primary():
    upstream = start_upstream(tokens=6, gap_ms=2.0)
    yield upstream
    upstream.process.terminate()
    upstream.process.wait(10)


@pytest.fixture(scope="module")
def secondary():
    upstream = start_upstream(tokens=4, gap_ms=2.0)
    yield upstream
    upstream.process.terminate()
    upstream.process.wait(10)


@pytest.fixture(autouse=True)
def clean(primary, secondary):
    for upstream in (primary, secondary):
        upstream.control(reset=True)


def settings_for(wire: str, primary: Upstream, secondary: Upstream, tmp_path, **overrides) -> tuple[LlmSettings, str]:
    """The chain primary -> secondary, with the primary speaking `wire`; and the primary's name."""
    servers = [{"name": "secondary", "base_url": secondary.base_url, "models": ["fake-model"]}]
    extra: dict = {}
    if wire == "openai":
        servers.insert(0, {"name": "primary", "base_url": primary.base_url, "models": ["fake-model"]})
        name = "primary"
    else:
        extra = {"anthropic_api_key": "test-key", "anthropic_base_url": primary.base_url.removesuffix("/v1"), "anthropic_models": ["fake-model"]}
        name = "anthropic"
    values = dict(grpc_port=0, var_dir=tmp_path, local_enabled=False, max_attempts=3, backoff_base_seconds=0.01,
                  backoff_max_seconds=2.0, breaker_failure_threshold=100, first_token_timeout_seconds=1.5, idle_timeout_seconds=1.5,
                  openai_compatible=servers, model_aliases={"chain": [f"{name}:fake-model", "secondary:fake-model"]}, stream_interval_ms=0)
    values.update(extra)
    values.update(overrides)
    return LlmSettings(**values), name


async def generate(stub) -> tuple[list, grpc.aio.AioRpcError | None]:
    """The events of one generation along the chain, and the error that ended it, if any."""
    request = llm_pb2.GenerateRequest(model="chain", messages=[llm_pb2.ChatMessage(role="user", content="Count.")],
                                      params=llm_pb2.GenerationParams(max_tokens=50))
    events = []
    try:
        async for event in stub.Generate(request, timeout=30):
            events.append(event)
    except grpc.aio.AioRpcError as exc:
        return events, exc
    return events, None


def text_of(events) -> str:
    return "".join(e.delta.text for e in events if e.WhichOneof("event") == "delta")


def error_of(exc: grpc.aio.AioRpcError) -> tuple[str, dict]:
    trailers = dict(exc.trailing_metadata())
    return trailers["x-error-code"], orjson.loads(trailers["x-error-details"])


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("status", [500, 503])
async def test_a_failing_provider_is_retried_then_the_next_one_answers(wire, status, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(fail_next=100, status=status)
    settings, name = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert error is None
    assert primary.stats()["requests"] == 3, "one request per attempt, three attempts"
    assert secondary.stats()["requests"] == 1
    assert (events[0].start.provider, text_of(events)) == ("secondary", "tok0 tok1 tok2 tok3 ")
    assert events[-1].end.usage.completion_tokens == 4


@pytest.mark.parametrize("wire", WIRES)
async def test_retry_after_is_waited_for(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(fail_next=1, status=429, retry_after=1)
    settings, name = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert error is None and events[0].start.provider == name
    times = primary.stats()["request_times"]
    assert len(times) == 2 and secondary.stats()["requests"] == 0
    # full-jitter backoff alone would have come back within 0.02 s
    assert times[1] - times[0] >= 0.95, times


@pytest.mark.parametrize("wire", WIRES)
async def test_a_refused_request_is_neither_retried_nor_sent_elsewhere(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(fail_next=100, status=400)
    settings, _ = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    code, details = error_of(error)
    assert code == "VALIDATION_ERROR" and details["retryable"] is False
    assert primary.stats()["requests"] == 1 and secondary.stats()["requests"] == 0
    assert events == []


@pytest.mark.parametrize("wire", WIRES)
async def test_a_rejected_key_is_not_retried_but_the_next_provider_answers(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(fail_next=100, status=401)
    settings, _ = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert error is None and events[0].start.provider == "secondary"
    assert primary.stats()["requests"] == 1 and secondary.stats()["requests"] == 1


@pytest.mark.parametrize("wire", WIRES)
async def test_every_provider_down_is_a_retryable_unavailable_error(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(fail_next=100, status=503)
    secondary.control(fail_next=100, status=503)
    settings, _ = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert events == [] and error.code() == grpc.StatusCode.UNAVAILABLE
    code, details = error_of(error)
    assert code == "SERVICE_UNAVAILABLE" and details["retryable"] is True
    assert error.details() and "internal" not in error.details().lower()
    assert primary.stats()["requests"] == 3 and secondary.stats()["requests"] == 3


@pytest.mark.parametrize("wire", WIRES)
async def test_a_provider_that_never_answers_is_left_at_its_first_token_deadline(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(hang_next=5)
    settings, _ = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        started = time.monotonic()
        events, error = await generate(stub)
        waited = time.monotonic() - started
    assert error is None and events[0].start.provider == "secondary"
    assert primary.stats()["requests"] == 1, "a silence is not retried on the same provider"
    assert waited < 10, waited  # the 1.5 s deadline once, not the HTTP client's own timeout per attempt


@pytest.mark.parametrize("wire", WIRES)
async def test_a_connection_broken_before_any_text_is_retried_on_the_same_provider(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(reset_next=1)
    settings, name = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert error is None and events[0].start.provider == name
    assert text_of(events) == "tok0 tok1 tok2 tok3 tok4 tok5 "
    assert primary.stats()["requests"] == 2 and secondary.stats()["requests"] == 0


@pytest.mark.parametrize("wire", WIRES)
async def test_a_chunk_that_is_not_json_before_any_text_is_a_provider_failure(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(malformed_after=0)
    settings, _ = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert error is None and events[0].start.provider == "secondary"
    assert primary.stats()["requests"] == 3 and secondary.stats()["requests"] == 1


@pytest.mark.parametrize("wire", WIRES)
async def test_a_chunk_that_is_not_json_after_text_ends_the_answer_with_what_was_sent(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(malformed_after=2)
    settings, name = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert events[0].start.provider == name and text_of(events) == "tok0 tok1 "
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
    code, details = error_of(error)
    assert code == "SERVICE_UNAVAILABLE" and details["retryable"] is True
    assert secondary.stats()["requests"] == 0, "no second model's text spliced onto the first's"


@pytest.mark.parametrize("wire", WIRES)
async def test_a_provider_silent_midway_is_left_at_its_idle_deadline_and_its_request_closed(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(stall_after=3)
    settings, name = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
        assert events[0].start.provider == name and text_of(events) == "tok0 tok1 tok2 "
        assert error is not None and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        code, details = error_of(error)
        assert code == "LLM_TIMEOUT" and details["retryable"] is True
        deadline = time.monotonic() + 5
        while primary.stats()["disconnects"] == 0:
            assert time.monotonic() < deadline, "the silent provider's request was left open"
            time.sleep(0.05)
    assert secondary.stats()["requests"] == 0


@pytest.mark.parametrize("wire", WIRES)
async def test_a_stream_cut_midway_ends_the_answer_after_all_the_text_it_sent(wire, primary, secondary, tmp_path, serve_orchestrator):
    primary.control(script="w0 w1 w2 w3 w4 w5 w6 w7", script_piece=3, cut_after=4)
    settings, name = settings_for(wire, primary, secondary, tmp_path)
    async with serve_orchestrator(settings) as stub:
        events, error = await generate(stub)
    assert events[0].start.provider == name and text_of(events) == "w0 w1 w2 w3 "
    assert error is not None and error_of(error)[0] == "SERVICE_UNAVAILABLE"
    assert primary.stats()["requests"] == 1 and secondary.stats()["requests"] == 0


async def test_the_circuit_opens_then_lets_one_trial_through_on_an_injected_clock(primary, secondary):
    """Two failures open the primary's circuit: the third request goes straight to the secondary
    without touching the primary. Once the cooldown has passed (on the injected clock), one trial
    reaches the primary: a failure opens the circuit again, a success closes it."""
    now = [1000.0]
    providers = {"primary": OpenAIProvider("primary", "k", primary.base_url, ["fake-model"], 8192, 10.0),
                 "secondary": OpenAIProvider("secondary", "k", secondary.base_url, ["fake-model"], 8192, 10.0)}
    router = Router(providers, {"chain": ["primary:fake-model", "secondary:fake-model"]}, "chain",
                    RouterPolicy(max_attempts=1), lambda: CircuitBreaker(2, 30.0, clock=lambda: now[0]))

    async def answer() -> str:
        items = [item async for item in router.generate("chain", "", [ChatMessage("user", "Count.")], GenParams(max_tokens=3))]
        assert isinstance(items[-1], End)
        return items[0].provider + ":" + "".join(i.text for i in items if isinstance(i, Delta))

    try:
        primary.control(fail_next=100, status=503)
        assert await answer() == "secondary:tok0 tok1 tok2 "
        assert await answer() == "secondary:tok0 tok1 tok2 "
        assert router.breakers["primary"].state is BreakerState.OPEN
        assert await answer() == "secondary:tok0 tok1 tok2 "
        assert primary.stats()["requests"] == 2, "an open circuit sends nothing to the provider"

        now[0] += 31  # the cooldown has passed: half-open, one trial
        assert router.breakers["primary"].state is BreakerState.HALF_OPEN
        assert await answer() == "secondary:tok0 tok1 tok2 "  # the trial failed
        assert primary.stats()["requests"] == 3
        assert router.breakers["primary"].state is BreakerState.OPEN
        assert await answer() == "secondary:tok0 tok1 tok2 "
        assert primary.stats()["requests"] == 3

        now[0] += 31
        primary.control(fail_next=0)
        assert await answer() == "primary:tok0 tok1 tok2 "  # the trial succeeded: closed again
        assert router.breakers["primary"].state is BreakerState.CLOSED
        assert await answer() == "primary:tok0 tok1 tok2 "
        assert primary.stats()["requests"] == 5
    finally:
        for provider in providers.values():
            await provider.aclose()
