"""A turn or a run cut off where the review found nothing kept: the client gone while gRPC was
writing one of its events, and a resumed run whose resumer never came back. The real
conversation service and llm-orchestrator (gRPC on loopback) in front of the scripted fake
upstream over HTTP, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import grpc
import pytest

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot_common.grpc_server import start_grpc
from conversation import server as conversation_server
from conversation.run_store import RunStore
from conversation.server import migrate
from conversation.settings import ConversationSettings
from llm_orchestrator.server import build_service as build_orchestrator
from llm_orchestrator.server import migrate as migrate_llm
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract

ALICE = common_pb2.Caller(user_id="alice", tenant_id="acme", roles=["member"])
# A client that reads nothing until it is asked: its window fills, and the service's writes wait.
SLOW_READER = [("grpc.http2.lookahead_bytes", 1024), ("grpc.http2.bdp_probe", 0)]


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
    service = await start_grpc(conversation_server.build_service(settings), settings)
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


class HookedRunStore(RunStore):
    """The service's own run store, with a place to step in: `after_find` runs once, between a
    resume's find and its claim; `cancel_claim` (an event, set once the claim is written) holds
    the resume there until the client stops it."""

    after_find = None
    cancel_claim: asyncio.Event | None = None

    async def find(self, run_id, user_id):
        found = await super().find(run_id, user_id)
        hook, HookedRunStore.after_find = HookedRunStore.after_find, None
        if hook is not None:
            await hook()
        return found

    async def claim(self, *args, **kwargs):
        lease = await super().claim(*args, **kwargs)
        if (claimed := HookedRunStore.cancel_claim) is not None:
            HookedRunStore.cancel_claim = None
            claimed.set()
            await asyncio.Event().wait()  # until the client's stop cancels the resume here
        return lease


@pytest.fixture
def hooked(monkeypatch):
    monkeypatch.setattr(conversation_server, "RunStore", HookedRunStore)
    yield HookedRunStore
    HookedRunStore.after_find, HookedRunStore.cancel_claim = None, None


def fetches(upstream, times: int) -> None:
    """The model asks to fetch the upstream's stats page (a call that waits for approval) `times`
    times, a step each, then answers."""
    upstream.control(reset=True)
    target = upstream.base_url.removesuffix("/v1") + "/stats"
    upstream.control(tool_turns=[[{"name": "http_fetch", "arguments": json.dumps({"url": f"{target}?{n}"})}] for n in range(times)],
                     script="Fetched.")


async def paused_run(stub) -> pb.ChatEvent:
    events = [e async for e in stub.Chat(pb.ChatRequest(caller=ALICE, message="Fetch the stats.", model="fake:fake-model",
                                                        tools=["auto"], use_rag=False), timeout=30)]
    assert events[-1].completed.finish_reason == "awaiting_approval", events
    return events


async def resume(stub, run_id: str) -> list[pb.ChatEvent]:
    request = pb.ResumeRunRequest(caller=ALICE, run_id=run_id, decisions=[pb.ToolDecision(action="approve")])
    return [e async for e in stub.ResumeRun(request, timeout=30)]


async def stop_after_claim(stub, run_id: str, hooked) -> None:
    """A resume stopped by its client just after its claim was written."""
    hooked.cancel_claim = claimed = asyncio.Event()
    call = stub.ResumeRun(pb.ResumeRunRequest(caller=ALICE, run_id=run_id, decisions=[pb.ToolDecision(action="approve")]),
                          timeout=30)
    reading = asyncio.ensure_future(call.read())
    await asyncio.wait_for(claimed.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    await asyncio.sleep(0.2)


async def test_a_resume_that_read_the_run_before_it_paused_again_is_refused(upstream, tmp_path, database_url, hooked):
    """Two approvals of one paused run: the first reads the run, and before it claims it the
    second resumes it (the approved call runs) and the run pauses again at its next call. The
    first's claim is refused (409): its state is gone. Before, the claim only asked for a paused
    run in its window, so the first resumed from the old state and the approved call ran twice."""
    fetches(upstream, 2)
    async with services(upstream, tmp_path, database_url) as stub:
        events = await paused_run(stub)
        run_id = events[-2].approval_required.run_id
        first_call = events[-2].approval_required.calls[0].call_id
        inner: list = []

        async def another_resume():
            inner.extend(await resume(stub, run_id))

        hooked.after_find = another_resume
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await resume(stub, run_id)
        answer = (await messages(stub, events[-1].completed.conversation_id))[-1]
    assert inner[-1].completed.finish_reason == "awaiting_approval"
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS, refused.value.details()
    ran = [e.tool_result.call_id for e in inner if e.WhichOneof("event") == "tool_result"]
    assert ran == [first_call]
    assert answer.finish_reason == "awaiting_approval" and answer.pending_approval.calls[0].call_id != first_call
    assert upstream.stats()["billed"]["answers"] == 2  # the first step, and the second resume's one step


async def test_a_run_left_resuming_is_ended_once_its_lease_passes(upstream, tmp_path, database_url, hooked):
    """The resume is cancelled just after its claim is written (a stop landing then; a crashed
    replica leaves the same): the run stays 'resuming', and an approval meanwhile is refused. Once
    the claim's lease has passed, the next approval or listing ends it as a stopped run: cancelled,
    the approved call interrupted with its decision, no card; approvals are refused as ended.
    Before, it stayed 'resuming' for ever: never ended, every approval refused as in progress."""
    fetches(upstream, 1)
    async with services(upstream, tmp_path, database_url, llm_timeout_seconds=2.0, run_resume_lease_seconds=2.5) as stub:
        events = await paused_run(stub)
        run_id, conversation_id = events[-2].approval_required.run_id, events[-1].completed.conversation_id
        await stop_after_claim(stub, run_id, hooked)
        with pytest.raises(grpc.aio.AioRpcError) as busy:
            await resume(stub, run_id)
        assert busy.value.code() == grpc.StatusCode.ALREADY_EXISTS and "not waiting" in busy.value.details()
        assert (await messages(stub, conversation_id))[-1].finish_reason == "resuming"
        await asyncio.sleep(2.6)
        answer = (await messages(stub, conversation_id))[-1]
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await resume(stub, run_id)
    assert answer.id == run_id and answer.finish_reason == "cancelled" and not answer.HasField("pending_approval")
    fetch = next(s for s in json.loads(answer.steps) if s["type"] == "tool")
    assert (fetch["status"], fetch["decision"]) == ("interrupted", "approve")
    assert ended.value.code() == grpc.StatusCode.ALREADY_EXISTS and "not waiting" in ended.value.details()
    assert upstream.stats()["billed"]["answers"] == 1


async def test_an_approval_ends_a_run_left_resuming_past_its_lease(upstream, tmp_path, database_url, hooked):
    """As above, with no listing in between: the approval that finds the run past its lease ends it
    (refused: the run was interrupted)."""
    fetches(upstream, 1)
    async with services(upstream, tmp_path, database_url, llm_timeout_seconds=2.0, run_resume_lease_seconds=2.5) as stub:
        events = await paused_run(stub)
        run_id, conversation_id = events[-2].approval_required.run_id, events[-1].completed.conversation_id
        await stop_after_claim(stub, run_id, hooked)
        await asyncio.sleep(2.6)
        with pytest.raises(grpc.aio.AioRpcError) as interrupted:
            await resume(stub, run_id)
        answer = (await messages(stub, conversation_id))[-1]
    assert interrupted.value.code() == grpc.StatusCode.ALREADY_EXISTS and "interrupted" in interrupted.value.details()
    assert answer.finish_reason == "cancelled"


async def test_a_client_gone_while_a_resumed_runs_event_is_written_keeps_the_run(upstream, tmp_path, database_url):
    """The same for a resumed run: the approved call runs, the next step writes a long answer the
    client does not read, and the client goes away. The run is stored as cancelled with the
    approved call's result and the text that came. Before, it stayed 'resuming'."""
    fetches(upstream, 1)
    async with services(upstream, tmp_path, database_url, SLOW_READER) as stub:
        events = await paused_run(stub)
        run_id, conversation_id = events[-2].approval_required.run_id, events[-1].completed.conversation_id
        upstream.control(script="All work and no play. " * 20000, script_piece=4000)
        call = stub.ResumeRun(pb.ResumeRunRequest(caller=ALICE, run_id=run_id, decisions=[pb.ToolDecision(action="approve")]),
                              timeout=60)
        assert (await call.read()).WhichOneof("event") == "started"
        await asyncio.sleep(1.5)  # the service's writes wait on the full window
        call.cancel()

        async def ended():
            answer = (await messages(stub, conversation_id))[-1]
            return answer if answer.finish_reason != "resuming" else None

        answer = await eventually(ended)
    assert answer is not None, "the run stayed 'resuming'"
    assert answer.id == run_id and answer.finish_reason == "cancelled" and "All work and no play." in answer.content
    fetch = next(s for s in json.loads(answer.steps) if s["type"] == "tool")
    assert (fetch["status"], fetch["decision"]) == ("ok", "approve")
