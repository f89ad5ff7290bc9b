"""Chat turns with tools and runs paused for approval, through the real conversation service and
llm-orchestrator (gRPC servers on loopback) in front of the scripted fake upstream over HTTP:
steps stored with the answer, a paused run kept with its answer and resumed from it (after the
orchestrator was stopped and started again), by its owner only, once, within its window."""

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
from conversation.server import build_service as build_conversation
from conversation.server import migrate
from conversation.settings import ConversationSettings
from llm_orchestrator.server import build_service as build_orchestrator
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract

ALICE = common_pb2.Caller(user_id="alice", tenant_id="acme", roles=["member"])
MALLORY = common_pb2.Caller(user_id="mallory", tenant_id="acme", roles=["member"])


def orchestrator_settings(upstream, tmp_path, port: int = 0) -> LlmSettings:
    return LlmSettings(grpc_port=port, metrics_port=0, var_dir=tmp_path / "llm", local_enabled=False, cache_enabled=False,
                       openai_compatible=[{"name": "fake", "base_url": upstream.base_url, "models": ["fake-model"]}],
                       tools_http_allowed_hosts=["127.0.0.1"], tools_http_allowed_networks=["127.0.0.0/8"], rag_target="127.0.0.1:1")


@asynccontextmanager
async def services(upstream, tmp_path, approval_seconds: float = 3600.0, llm_port=None, llm_timeout: float = 300.0):
    """The conversation service and the orchestrator; `llm_port(orchestrator_port)`: the port the
    conversation service reaches the orchestrator on instead (a proxy's)."""
    llm_settings = orchestrator_settings(upstream, tmp_path)
    await asyncio.to_thread(_migrate_llm, llm_settings)
    orchestrator = await start_grpc(build_orchestrator(llm_settings), llm_settings)
    port = llm_port(orchestrator.port) if llm_port else orchestrator.port
    settings = ConversationSettings(grpc_port=0, metrics_port=0, var_dir=tmp_path / "conv", llm_target=f"127.0.0.1:{port}",
                                    rag_target="127.0.0.1:1", run_approval_seconds=approval_seconds, auto_titles=False,
                                    llm_timeout_seconds=llm_timeout)
    await asyncio.to_thread(migrate, settings)
    conversation = await start_grpc(build_conversation(settings), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{conversation.port}")
    handles = {"orchestrator": orchestrator, "llm_settings": llm_settings}
    try:
        yield conversation_pb2_grpc.ConversationServiceStub(channel), handles
    finally:
        await channel.close()
        await conversation.stop(1)
        await handles["orchestrator"].stop(1)


def _migrate_llm(settings: LlmSettings) -> None:
    from llm_orchestrator.server import migrate as migrate_llm

    migrate_llm(settings)


async def chat(stub, message: str, tools: list[str]) -> list[pb.ChatEvent]:
    request = pb.ChatRequest(caller=ALICE, message=message, model="fake:fake-model", tools=tools, use_rag=False)
    return [event async for event in stub.Chat(request, timeout=30)]


async def resume(stub, run_id: str, action: str, arguments: str = "", caller=ALICE) -> list[pb.ChatEvent]:
    request = pb.ResumeRunRequest(caller=caller, run_id=run_id, decisions=[pb.ToolDecision(action=action, arguments=arguments)])
    return [event async for event in stub.ResumeRun(request, timeout=30)]


def kinds(events) -> list[str]:
    return [e.WhichOneof("event") for e in events if e.WhichOneof("event") != "token"]


async def answer_of(stub, conversation_id: str) -> pb.Message:
    reply = await stub.ListMessages(pb.ListMessagesRequest(caller=ALICE, conversation_id=conversation_id), timeout=10)
    return reply.messages[-1]


async def test_a_turn_with_tools_stores_its_steps_and_usage(upstream, tmp_path):
    upstream.control(reset=True)
    upstream.control(tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "19 * 3"})}]], script="It is 57.")
    async with services(upstream, tmp_path) as (stub, _):
        events = await chat(stub, "What is 19 times 3?", ["calculator"])
        assert kinds(events) == ["started", "model", "spent", "tool_call", "tool_result", "model", "spent", "completed"]
        result = next(e.tool_result for e in events if e.WhichOneof("event") == "tool_result")
        assert (result.name, result.status, result.summary) == ("calculator", "ok", "57")
        done = events[-1].completed
        stored = await answer_of(stub, done.conversation_id)
        steps = json.loads(stored.steps)
        assert [s["type"] for s in steps] == ["model", "tool", "model"]
        assert stored.usage.prompt_tokens == sum(s.get("prompt_tokens", 0) for s in steps) > 0
        usage = await stub.UserUsage(pb.TenantUsageRequest(caller=ALICE, since="2000-01-01", until="2100-01-01"), timeout=10)
        assert sum(r.prompt_tokens for r in usage.rows) == stored.usage.prompt_tokens


async def test_unknown_tools_are_refused_before_the_turn_is_stored(upstream, tmp_path):
    async with services(upstream, tmp_path) as (stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await chat(stub, "hi", ["no_such_tool"])
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        listed = await stub.ListConversations(pb.ListConversationsRequest(caller=ALICE), timeout=10)
        assert list(listed.conversations) == []


async def test_a_paused_run_survives_an_orchestrator_restart_and_goes_on_once_for_its_owner(upstream, tmp_path):
    target = upstream.base_url.removesuffix("/v1") + "/stats"
    upstream.control(reset=True)
    upstream.control(tool_turns=[[{"name": "http_fetch", "arguments": json.dumps({"url": target})}]], script="Fetched.")
    async with services(upstream, tmp_path) as (stub, handles):
        events = await chat(stub, "Fetch the stats.", ["auto"])
        assert kinds(events)[-3:] == ["tool_call", "approval_required", "completed"]
        pending = events[-2].approval_required
        assert events[-1].completed.finish_reason == "awaiting_approval" and pending.calls[0].name == "http_fetch"
        stored = await answer_of(stub, events[-1].completed.conversation_id)
        assert stored.pending_approval.calls[0].call_id == pending.calls[0].call_id

        # The orchestrator keeps nothing of the run: a new one on the same port resumes it.
        port = handles["orchestrator"].port
        await handles["orchestrator"].stop(1)
        settings = orchestrator_settings(upstream, tmp_path, port)
        handles["orchestrator"] = await start_grpc(build_orchestrator(settings), settings)

        with pytest.raises(grpc.aio.AioRpcError) as stranger:
            await resume(stub, pending.run_id, "approve", caller=MALLORY)
        assert stranger.value.code() == grpc.StatusCode.NOT_FOUND
        # A bad edit is refused before anything runs (the channel may first need to reconnect:
        # a refusal for that leaves the run waiting too).
        for _ in range(50):
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await resume(stub, pending.run_id, "edit", json.dumps({"url": 5}))
            if bad.value.code() != grpc.StatusCode.UNAVAILABLE:
                break
            await asyncio.sleep(0.2)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        resumed = await resume(stub, pending.run_id, "approve")
        # The approved call is announced (it runs now), then its result.
        assert kinds(resumed) == ["started", "tool_call", "tool_result", "model", "spent", "completed"]
        result = next(e.tool_result for e in resumed if e.WhichOneof("event") == "tool_result")
        assert result.status == "ok" and "requests" in result.summary
        final = await answer_of(stub, events[-1].completed.conversation_id)
        assert final.id == pending.run_id and final.finish_reason == "stop" and not final.HasField("pending_approval")
        assert final.content.endswith("Fetched.")
        assert json.loads(final.steps)[1]["decision"] == "approve"

        with pytest.raises(grpc.aio.AioRpcError) as again:
            await resume(stub, pending.run_id, "approve")
        assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS  # CONFLICT: decided once


async def test_a_denied_call_never_runs_and_an_expired_run_cannot_be_resumed(upstream, tmp_path):
    target = upstream.base_url.removesuffix("/v1") + "/stats"
    upstream.control(reset=True)
    call = [{"name": "http_fetch", "arguments": json.dumps({"url": target})}]
    upstream.control(tool_turns=[call], script="Done.")
    async with services(upstream, tmp_path, approval_seconds=1.0) as (stub, _):
        first = await chat(stub, "Fetch it.", ["http_fetch"])
        run_id = first[-2].approval_required.run_id
        denied = await resume(stub, run_id, "deny")
        assert next(e.tool_result for e in denied if e.WhichOneof("event") == "tool_result").status == "denied"
        assert "denied" in upstream.stats()["bodies"][-1]["messages"][-1]["content"]

        upstream.control(tool_turns=[call])
        second = await chat(stub, "Fetch it again.", ["http_fetch"])
        late = second[-2].approval_required.run_id
        assert (await answer_of(stub, second[-1].completed.conversation_id)).HasField("pending_approval")
        await asyncio.sleep(1.5)
        # Past its window the card is no longer served with the messages.
        assert not (await answer_of(stub, second[-1].completed.conversation_id)).HasField("pending_approval")
        with pytest.raises(grpc.aio.AioRpcError) as expired:
            await resume(stub, late, "approve")
        assert expired.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "window" in expired.value.details()


@asynccontextmanager
async def side_effect_server():
    """An HTTP endpoint a sensitive call acts on: it counts the requests that reached it, and holds
    the first without an answer (a slow system, still at work when the orchestrator goes away)."""
    hits: list[int] = []
    reached, release = asyncio.Event(), asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            hits.append(1)
            reached.set()
            if len(hits) == 1:
                await release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\nsent")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/send", hits, reached
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_a_decision_is_final_once_the_call_may_have_run(upstream, tmp_path):
    """The orchestrator goes away while the approved call is at work (its effect done, its answer
    not yet back): the run ends as failed, a second decision is refused, and the call ran once."""
    async with side_effect_server() as (target, hits, reached):
        upstream.control(reset=True)
        upstream.control(tool_turns=[[{"name": "http_fetch", "arguments": json.dumps({"url": target})}]], script="Sent.")
        async with services(upstream, tmp_path) as (stub, handles):
            events = await chat(stub, "Send it.", ["http_fetch"])
            run_id = events[-2].approval_required.run_id
            resuming = asyncio.ensure_future(resume(stub, run_id, "approve"))
            await asyncio.wait_for(reached.wait(), 10)
            port = handles["orchestrator"].port
            await handles["orchestrator"].stop(0)  # gone mid-call, as after a crash
            with pytest.raises(grpc.aio.AioRpcError):
                await resuming
            settings = orchestrator_settings(upstream, tmp_path, port)
            handles["orchestrator"] = await start_grpc(build_orchestrator(settings), settings)

            # The conversation service's channel may first need to reconnect (gRPC backs off
            # between attempts): asked again until it answers something else, for up to a minute.
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                with pytest.raises(grpc.aio.AioRpcError) as again:
                    await resume(stub, run_id, "approve")
                if again.value.code() != grpc.StatusCode.UNAVAILABLE or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS  # CONFLICT: decided once
            assert len(hits) == 1, "the approved call ran once"
            answer = await answer_of(stub, events[-1].completed.conversation_id)
            assert answer.id == run_id and answer.finish_reason == "error" and not answer.HasField("pending_approval")


class HeldProxy:
    """A TCP proxy in front of the orchestrator whose answers can be held back (`hold`, `flow`):
    what the conversation service sends goes through at once, what comes back waits (a slow
    network, or an orchestrator slow to write)."""

    def __init__(self) -> None:
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.target = 0

    def to(self, port: int) -> int:
        self.target = port
        return self.port

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event | None) -> None:
        try:
            while data := await reader.read(65536):
                if gate is not None:
                    await gate.wait()
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:  # the orchestrator is gone
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, upstream_writer, None), self._pipe(upstream_reader, writer, self.flowing),
                             return_exceptions=True)

    async def close(self) -> None:
        self.flowing.set()
        self.server.close()


async def test_a_deadline_before_the_first_event_keeps_the_decision(upstream, tmp_path):
    """The orchestrator took the decision and the call acted, but its first event did not come back
    before the conversation service's deadline for the run: that proves nothing did not run, so
    the run ends as failed and a second decision is refused (before, the claim was given back
    and the second decision ran the call again)."""
    proxy = HeldProxy()
    await proxy.start()
    try:
        async with side_effect_server() as (target, hits, reached):
            upstream.control(reset=True)
            upstream.control(tool_turns=[[{"name": "http_fetch", "arguments": json.dumps({"url": target})}]], script="Sent.")
            async with services(upstream, tmp_path, llm_port=proxy.to, llm_timeout=3.0) as (stub, _):
                events = await chat(stub, "Send it.", ["http_fetch"])
                run_id = events[-2].approval_required.run_id
                proxy.flowing.clear()  # the orchestrator's answers wait from here on
                resuming = asyncio.ensure_future(resume(stub, run_id, "approve"))
                await asyncio.wait_for(reached.wait(), 10)  # the approved call is at work
                with pytest.raises(grpc.aio.AioRpcError) as late:
                    await resuming
                assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, late.value
                proxy.flowing.set()
                with pytest.raises(grpc.aio.AioRpcError) as again:
                    await resume(stub, run_id, "approve")
                assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS, again.value  # CONFLICT: decided once
                assert len(hits) == 1, "the approved call ran once"
                answer = await answer_of(stub, events[-1].completed.conversation_id)
                assert answer.id == run_id and answer.finish_reason == "error" and not answer.HasField("pending_approval")
                # The stored step says so: the call may have run (it did), on the person's approval.
                (call,) = [s for s in json.loads(answer.steps) if s["type"] == "tool"]
                assert (call["status"], call["decision"]) == ("interrupted", "approve"), call
    finally:
        await proxy.close()
