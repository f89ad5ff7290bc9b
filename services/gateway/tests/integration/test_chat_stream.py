"""The chat-stream reader over a real gRPC hop: a conversation service that refuses a turn
before its first event (a real status for the HTTP answer) or fails in the middle of it (the
error arrives after the events before it, as the one AppError)."""

from types import SimpleNamespace

import grpc
import pytest

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.grpc_errors import AppErrorInterceptor, MappedStub
from gateway.chat_stream import Text, TurnStarted, open_turn

pytestmark = pytest.mark.contract


class Conversation(conversation_pb2_grpc.ConversationServiceServicer):
    async def Chat(self, request: pb.ChatRequest, context):
        if request.conversation_id:
            raise AppError(ErrorCode.NOT_FOUND, "conversation not found")
        yield pb.ChatEvent(started=pb.TurnStarted(conversation_id="conv_1", user_message_id="msg_1", assistant_message_id="msg_2"))
        yield pb.ChatEvent(token=pb.TokenDelta(text="partial", index=0))
        raise AppError(ErrorCode.LLM_TIMEOUT, "the provider stopped answering")


@pytest.fixture
async def downstream():
    server = grpc.aio.server(interceptors=[AppErrorInterceptor()])
    conversation_pb2_grpc.add_ConversationServiceServicer_to_server(Conversation(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield SimpleNamespace(conversation=MappedStub(conversation_pb2_grpc.ConversationServiceStub(channel), "conversation"))
    await channel.close()
    await server.stop(None)


async def test_a_turn_refused_before_its_first_event_fails_to_open(downstream):
    with pytest.raises(AppError) as refused:
        await open_turn(downstream, pb.ChatRequest(conversation_id="conv_x"), timeout=5)
    assert refused.value.code is ErrorCode.NOT_FOUND and refused.value.message == "conversation not found"


async def test_a_failure_mid_turn_comes_after_the_events_before_it(downstream):
    stream, first = await open_turn(downstream, pb.ChatRequest(), timeout=5)
    seen = []
    with pytest.raises(AppError) as failed:
        async for event in stream:
            seen.append(event)
    assert seen == [first, Text("partial", 0)] and first == TurnStarted("conv_1", "msg_1", "msg_2")
    assert failed.value.code is ErrorCode.LLM_TIMEOUT and failed.value.to_body()["error"]["message"] == "the provider stopped answering"
