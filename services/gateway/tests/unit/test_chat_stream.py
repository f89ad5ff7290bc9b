"""The chat-stream reader: each contract's replies become typed events, in order, the ones read
while opening first; opening fails with a real status when nothing was generated."""

from datetime import UTC, datetime
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.llm.v1 import llm_pb2
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from gateway.chat_stream import (
    Citations,
    GenerationEnded,
    GuardrailCaught,
    Spend,
    Text,
    TurnCompleted,
    TurnStarted,
    Usage,
    open_generation,
    open_turn,
)


class ScriptedCall:
    """A server-streaming call that hands out prepared replies, then EOF."""

    def __init__(self, replies) -> None:
        self.replies = list(replies)
        self.cancelled = False

    async def read(self):
        return self.replies.pop(0) if self.replies else grpc.aio.EOF

    def cancel(self) -> bool:
        self.cancelled = True
        return True


def downstream(call: ScriptedCall) -> SimpleNamespace:
    method = lambda _request, timeout: call  # noqa: E731
    return SimpleNamespace(conversation=SimpleNamespace(Chat=method), llm=SimpleNamespace(Generate=method))


def stamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


async def test_a_turn_reads_as_typed_events_in_order():
    created = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    citation = common_pb2.Citation(number=1, document_id="doc_1", chunk_id="c1", title="Handbook", score=0.5)
    call = ScriptedCall([
        pb.ChatEvent(started=pb.TurnStarted(conversation_id="conv_1", user_message_id="msg_1", assistant_message_id="msg_2")),
        pb.ChatEvent(model=common_pb2.ModelSelected(provider="fake", model="fake-model")),
        pb.ChatEvent(citations=pb.CitationList(citations=[citation])),
        pb.ChatEvent(guardrail=pb.GuardrailEvent(kind="injection_in_source", action="excluded")),
        pb.ChatEvent(token=pb.TokenDelta(text="Hel", index=0)),
        pb.ChatEvent(token=pb.TokenDelta(text="lo", index=1)),
        pb.ChatEvent(completed=pb.TurnCompleted(
            message_id="msg_2", conversation_id="conv_1", finish_reason="stop", provider="fake", model="fake-model", latency_ms=30,
            ttft_ms=12, usage=common_pb2.Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7), created_at=stamp(created))),
    ])
    stream, first = await open_turn(downstream(call), pb.ChatRequest(), timeout=5)
    assert first == TurnStarted("conv_1", "msg_1", "msg_2")
    events = [event async for event in stream]
    assert events[0] == first and events[1] == ModelSelected("fake", "fake-model")
    assert isinstance(events[2], Citations) and events[2].citations[0].document_id == "doc_1"
    assert isinstance(events[3], GuardrailCaught) and events[3].event.kind == "injection_in_source"
    assert events[4:6] == [Text("Hel", 0), Text("lo", 1)]
    assert events[6] == TurnCompleted("msg_2", "conv_1", "stop", Usage(5, 2, 7), "fake", "fake-model", 30, 12, created, Spend(""))
    assert not call.cancelled
    stream.cancel()
    assert call.cancelled


async def test_a_turn_that_ends_before_its_first_event_is_unavailable():
    with pytest.raises(AppError) as refused:
        await open_turn(downstream(ScriptedCall([])), pb.ChatRequest(), timeout=5)
    assert refused.value.code is ErrorCode.SERVICE_UNAVAILABLE


async def test_a_failure_before_the_first_event_cancels_the_call_and_keeps_its_error():
    class Failing(ScriptedCall):
        async def read(self):
            raise AppError(ErrorCode.NOT_FOUND, "conversation not found")

    call = Failing([])
    with pytest.raises(AppError) as refused:
        await open_turn(downstream(call), pb.ChatRequest(), timeout=5)
    assert refused.value.code is ErrorCode.NOT_FOUND and call.cancelled


async def test_a_generation_names_its_model_first_and_numbers_its_deltas():
    call = ScriptedCall([
        llm_pb2.GenerateResponse(start=common_pb2.ModelSelected(provider="local", model="smol")),
        llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text="a")),
        llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text="b")),
        llm_pb2.GenerateResponse(end=llm_pb2.StreamEnd(finish_reason="length",
                                                       usage=common_pb2.Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5))),
    ])
    stream, start = await open_generation(downstream(call), llm_pb2.GenerateRequest(), timeout=5)
    assert start == ModelSelected("local", "smol")
    # The delta after the start was read while opening: it comes first, without another read.
    assert len(call.replies) == 2
    assert [event async for event in stream] == [Text("a", 0), Text("b", 1), GenerationEnded("length", Usage(3, 2, 5), Spend(""))]


async def test_a_generation_that_does_not_start_is_a_provider_error():
    for replies in ([], [llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text="no start"))]):
        call = ScriptedCall(replies)
        with pytest.raises(AppError) as refused:
            await open_generation(downstream(call), llm_pb2.GenerateRequest(), timeout=5)
        assert refused.value.code is ErrorCode.LLM_PROVIDER_ERROR and call.cancelled


async def test_a_generation_may_end_right_after_its_start():
    call = ScriptedCall([llm_pb2.GenerateResponse(start=common_pb2.ModelSelected(provider="p", model="m"))])
    stream, _ = await open_generation(downstream(call), llm_pb2.GenerateRequest(), timeout=5)
    assert [event async for event in stream] == []
