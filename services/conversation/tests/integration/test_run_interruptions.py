"""A turn or a run cut off where the review found nothing kept: the client gone while gRPC was
writing one of its events, and a resumed run whose resumer never came back. The real
conversation service and llm-orchestrator (gRPC on loopback) in front of the scripted fake
upstream over HTTP, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import grpc
import pytest

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot_common.grpc_server import start_grpc
from conversation.server import build_service as build_conversation
from conversation.server import migrate
from conversation.settings import ConversationSettings
from fake_openai_upstream import start_upstream
from llm_orchestrator.server import build_service as build_orchestrator
from llm_orchestrator.server import migrate as migrate_llm
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract

ALICE = common_pb2.Caller(user_id="alice", tenant_id="acme", roles=["member"])
# A client that reads nothing until it is asked: its window fills, and the service's writes wait.
SLOW_READER = [("grpc.http2.lookahead_bytes", 1024), ("grpc.http2.bdp_probe", 0)]


@pytest.fixture(scope="module")
def upstream():
    server = start_upstream(tokens=3, gap_ms=1.0)
    yield server
    server.process.terminate()
    server.process.wait(10)


@asynccontextmanager
async def services(upstream, tmp_path, database_url: str, options=(), **conversation):
    llm = LlmSettings(grpc_port=0, metrics_port=0, var_dir=tmp_path / "llm", local_enabled=False, cache_enabled=False,
                      openai_compatible=[{"name": "fake", "base_url": upstream.base_url, "models": ["fake-model"]}],
                      tools_http_allowed_hosts=["127.0.0.1"], tools_http_allowed_networks=["127.0.0.0/8"], rag_target="127.0.0.1:1")
    await asyncio.to_thread(migrate_llm, llm)
    orchestrator = await start_grpc(build_orchestrator(llm), llm)
    settings = ConversationSettings(grpc_port=0, metrics_port=0, var_dir=tmp_path / "conv", database_url=database_url,
                                    llm_target=f"127.0.0.1:{orchestrator.port}", rag_target="127.0.0.1:1", auto_titles=False,
                                    **conversation)
    await asyncio.to_thread(migrate, settings)
    service = await start_grpc(build_conversation(settings), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}", options=list(options))
    try:
        yield conversation_pb2_grpc.ConversationServiceStub(channel)
    finally:
        await channel.close()
        await service.stop(1)
        await orchestrator.stop(1)


async def ledger(stub) -> list[pb.UsageRow]:
    return list((await stub.UserUsage(pb.TenantUsageRequest(caller=ALICE, since="2000-01-01", until="2100-01-01"), timeout=10)).rows)


async def messages(stub, conversation_id: str) -> list[pb.Message]:
    return list((await stub.ListMessages(pb.ListMessagesRequest(caller=ALICE, conversation_id=conversation_id), timeout=10)).messages)


async def eventually(check, seconds: float = 10.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not (found := await check()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    return found


async def test_a_client_gone_while_an_event_is_written_keeps_the_answer(upstream, tmp_path, database_url):
    """The client reads the turn's first event, then nothing (its flow-control window fills with a
    long answer's pieces, so the service waits in gRPC's write), then goes away. The answer is
    stored as cancelled with what was generated and the turn booked. Before, the stop came as the
    generator's close (GeneratorExit), not a cancellation inside it: nothing was stored or booked."""
    upstream.control(reset=True)
    upstream.control(script="All work and no play. " * 20000, script_piece=4000)
    async with services(upstream, tmp_path, database_url, SLOW_READER) as stub:
        call = stub.Chat(pb.ChatRequest(caller=ALICE, message="Tell me a long story.", model="fake:fake-model", use_rag=False),
                         timeout=60)
        started = (await call.read()).started
        await eventually(lambda: asyncio.sleep(0, upstream.stats()["requests"] >= 1))
        await asyncio.sleep(1.5)  # the service's writes wait on the full window
        call.cancel()

        async def answered():
            found = await messages(stub, started.conversation_id)
            return found[-1] if found[-1].role == "assistant" else None

        answer = await eventually(answered)
        rows = await ledger(stub)
    assert answer is not None, "no answer stored"
    assert answer.id == started.assistant_message_id and answer.finish_reason == "cancelled"
    assert answer.content.startswith("All work and no play.") and answer.usage.completion_tokens > 0
    assert sum(r.turns for r in rows) == 1 and sum(r.completion_tokens for r in rows) == answer.usage.completion_tokens
