"""The conversation service's contract on an in-process server, talking to a real
in-process llm-orchestrator with the embedded model, on a SQLite file."""

import asyncio
import uuid

import grpc
import pytest

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot_common.grpc_server import start_grpc
from conversation import server as conversation_server
from conversation.settings import ConversationSettings
from llm_orchestrator.server import build_service as build_llm
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract


@pytest.fixture
async def stub(tmp_path, fake_upstream):
    llm_settings = LlmSettings(
        grpc_port=0, var_dir=tmp_path, local_n_ctx=2048, max_attempts=1,
        openai_compatible=[{"name": "fake", "base_url": fake_upstream.base_url, "models": ["fake-model"]}],
        model_aliases={"default": ["local:smollm2-135m-instruct"]},
    )
    llm = await start_grpc(build_llm(llm_settings), llm_settings)
    settings = ConversationSettings(grpc_port=0, var_dir=tmp_path, llm_target=f"127.0.0.1:{llm.port}")
    await asyncio.to_thread(conversation_server.migrate, settings)
    conv = await start_grpc(conversation_server.build_service(settings), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{conv.port}")
    yield conversation_pb2_grpc.ConversationServiceStub(channel)
    await channel.close()
    await conv.stop(1)
    await llm.stop(1)


def caller(user="usr_a"):
    return common_pb2.Caller(user_id=user, tenant_id="t1")


async def test_chat_turn_persists_both_messages(stub):
    events = [e async for e in stub.Chat(pb.ChatRequest(caller=caller(), message="Say hello.", max_tokens=16), timeout=60)]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "started" and kinds[1] == "model" and kinds[-1] == "completed"
    done = events[-1].completed
    text = "".join(e.token.text for e in events if e.WhichOneof("event") == "token")
    listed = await stub.ListMessages(pb.ListMessagesRequest(caller=caller(), conversation_id=done.conversation_id), timeout=5)
    assert [m.role for m in listed.messages] == ["user", "assistant"]
    assert listed.messages[1].content == text and listed.messages[1].usage.completion_tokens == done.usage.completion_tokens
    assert listed.messages[1].provider == "local" and listed.messages[1].ttft_ms > 0


async def test_cancelled_turn_keeps_user_message_and_partial_answer(stub):
    call = stub.Chat(pb.ChatRequest(caller=caller(), message="Tell a very long story about the sea.", max_tokens=1000), timeout=60)
    conversation_id = None
    tokens = 0
    async for event in call:
        if event.WhichOneof("event") == "started":
            conversation_id = event.started.conversation_id
        if event.WhichOneof("event") == "token":
            tokens += 1
            if tokens == 3:
                call.cancel()
                break
    for _ in range(50):
        listed = await stub.ListMessages(pb.ListMessagesRequest(caller=caller(), conversation_id=conversation_id), timeout=5)
        if len(listed.messages) == 2:
            break
        await asyncio.sleep(0.1)
    assert [m.role for m in listed.messages] == ["user", "assistant"]
    assert listed.messages[1].finish_reason == "cancelled" and listed.messages[1].content


async def test_ownership_and_validation(stub):
    conv = await stub.CreateConversation(pb.CreateConversationRequest(caller=caller(), title="mine"), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetConversation(pb.GetConversationRequest(caller=caller("usr_b"), conversation_id=conv.id), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # The gateway refuses a malformed id (conversation.proto): here it is simply not found.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetConversation(pb.GetConversationRequest(caller=caller(), conversation_id="bogus"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetConversation(pb.GetConversationRequest(conversation_id=conv.id), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.Chat(pb.ChatRequest(caller=caller(), conversation_id=f"conv_{uuid.uuid4().hex}", message="hi"), timeout=10):
            pass
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.Chat(pb.ChatRequest(caller=caller(), message="hi", model="nope"), timeout=10):
            pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    page = await stub.ListConversations(pb.ListConversationsRequest(caller=caller()), timeout=5)
    assert [c.id for c in page.conversations] == [conv.id]


async def test_health_turns_serving_once_the_database_answers(stub, tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    # A second server on the same database: its health starts NOT_SERVING and turns SERVING
    # once its readiness probe (a real query against the database) succeeds.
    settings = ConversationSettings(var_dir=tmp_path, grpc_port=0)
    running = await start_grpc(conversation_server.build_service(settings), settings, readiness_interval=0.05)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        for _ in range(40):
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="chatbot.conversation.v1.ConversationService"), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                break
            await asyncio.sleep(0.05)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await running.stop(0)
