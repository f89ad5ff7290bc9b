"""The model calls that write summaries and titles are in the usage ledger, on SQLite and on the
real PostgreSQL: an in-process conversation server and llm-orchestrator, the memory model a
priced provider (the fake upstream, over HTTP). Each call is counted on the conversation's owner
and tenant as kind `summary` or `title`, apart from the answers (`chat`), and the ledger's tokens
and cost are exactly what the upstream billed."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

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

PRICE_IN, PRICE_OUT = Decimal("2"), Decimal("8")  # USD per million tokens
WINDOW = {"since": "2000-01-01", "until": "2100-01-01"}


@pytest.fixture
async def stub(tmp_path, database_url, fake_upstream):
    llm_settings = LlmSettings(
        grpc_port=0, var_dir=tmp_path, local_enabled=False, max_attempts=1, cache_enabled=False,
        openai_compatible=[{"name": "fake", "base_url": fake_upstream.base_url, "models": ["fake-model"]}],
        model_aliases={"default": ["fake:fake-model"]},
        prices={"fake:fake-model": {"input": str(PRICE_IN), "output": str(PRICE_OUT)}})
    llm = await start_grpc(build_llm(llm_settings), llm_settings)
    # A small history allowance, so that a few turns pass the summary trigger.
    settings = ConversationSettings(grpc_port=0, var_dir=tmp_path, database_url=database_url, llm_target=f"127.0.0.1:{llm.port}",
                                    history_tokens=120, summary_keep_messages=2, memory_model="fake-model", memory_provider="fake")
    await asyncio.to_thread(conversation_server.migrate, settings)
    conv = await start_grpc(conversation_server.build_service(settings), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{conv.port}")
    yield conversation_pb2_grpc.ConversationServiceStub(channel)
    await channel.close()
    await conv.stop(1)
    await llm.stop(1)


def caller(user="usr_owner", tenant="t_memory"):
    return common_pb2.Caller(user_id=user, tenant_id=tenant)


async def until(check, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not (value := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


async def test_summary_and_title_calls_are_counted_on_the_owner_by_kind(stub, fake_upstream):
    conversation_id = ""
    for i in range(8):
        events = [e async for e in stub.Chat(pb.ChatRequest(
            caller=caller(), conversation_id=conversation_id, max_tokens=16,
            message=f"Turn {i}: please remember that my favourite number today is {i * 7}, and tell me about it."), timeout=60)]
        conversation_id = events[-1].completed.conversation_id
        assert events[-1].completed.message_id, events[-1]

    async def settled():
        conv = (await stub.GetConversation(pb.GetConversationRequest(caller=caller(), conversation_id=conversation_id), timeout=5))
        return conv if conv.HasField("summary") and conv.title_source == "generated" else None

    await until(settled)

    async def counted():
        """The ledger once it holds every call the upstream billed (a fold scheduled again may
        still be under way when the summary first shows)."""
        rows = (await stub.UserUsage(pb.TenantUsageRequest(caller=caller(), **WINDOW), timeout=5)).rows
        stats = await asyncio.to_thread(fake_upstream.stats)
        ledger = (sum(r.turns for r in rows), sum(r.prompt_tokens for r in rows), sum(r.completion_tokens for r in rows))
        billed = stats["billed"]
        if stats["requests"] == billed["answers"] and ledger == (billed["answers"], billed["prompt_tokens"], billed["completion_tokens"]):
            return rows
        return None

    # Exactly what the upstream billed, answers and background calls together.
    rows = await until(counted)
    kinds = {r.kind: r for r in rows}
    assert set(kinds) == {"chat", "summary", "title"}, rows
    assert {(r.provider, r.model) for r in rows} == {("fake", "fake-model")}
    assert kinds["chat"].turns == 8 and kinds["title"].turns == 1 and kinds["summary"].turns >= 1
    assert kinds["summary"].prompt_tokens > 0 and kinds["title"].prompt_tokens > 0
    for r in rows:
        assert r.unpriced_turns == 0 and r.cache_hits == 0
        assert Decimal(r.cost) == (r.prompt_tokens * PRICE_IN + r.completion_tokens * PRICE_OUT) / 1_000_000
    # The tenant's report has the same rows; another user of the tenant has none of them.
    tenant = (await stub.TenantUsage(pb.TenantUsageRequest(caller=caller(), **WINDOW), timeout=5)).rows
    assert list(tenant) == list(rows)
    assert not (await stub.UserUsage(pb.TenantUsageRequest(caller=caller("usr_other"), **WINDOW), timeout=5)).rows

    # Erasure folds them into the tenant's unnamed rows, kinds kept.
    await stub.EraseUserData(pb.UserDataRequest(caller=caller()), timeout=10)
    assert list((await stub.TenantUsage(pb.TenantUsageRequest(caller=caller(), **WINDOW), timeout=5)).rows) == list(rows)


async def test_record_usage_refuses_a_kind_that_is_not_a_short_word(stub):
    usage = common_pb2.Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5, cost="0.00001")
    await stub.RecordUsage(pb.RecordUsageRequest(caller=caller(), provider="fake", model="m", usage=usage), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RecordUsage(pb.RecordUsageRequest(caller=caller(), provider="fake", model="m", usage=usage, kind="x" * 17), timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(r.kind, r.turns) for r in (await stub.UserUsage(pb.TenantUsageRequest(caller=caller(), **WINDOW), timeout=5)).rows] == [("chat", 1)]
