"""An agent run whose steps were served by different providers (the first provider of the chain
failed mid-run, the next one served the rest) is in the usage ledger per provider: each step's
tokens and cost on the provider and model that served it, as each upstream billed them; the
turn itself on the provider that gave the answer. The real conversation service and
llm-orchestrator (gRPC on loopback) in front of two scripted fake upstreams over HTTP, on the
conversation's SQLite."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import asynccontextmanager
from decimal import Decimal

import grpc
import pytest

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot_common.grpc_server import start_grpc
from chatbot_common.tokens import open_counter
from conversation.server import build_service as build_conversation
from conversation.server import migrate
from conversation.settings import ConversationSettings
from fake_openai_upstream import start_upstream
from llm_orchestrator.server import build_service as build_orchestrator
from llm_orchestrator.server import migrate as migrate_llm
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract

ALICE = common_pb2.Caller(user_id="alice", tenant_id="acme", roles=["member"])
PRICES = {"primary:fake-model": (Decimal("1"), Decimal("2")), "backup:fake-model": (Decimal("3"), Decimal("5"))}  # USD / M tokens


@pytest.fixture(scope="module")
def upstreams():
    servers = {name: start_upstream(tokens=3, gap_ms=1.0) for name in ("primary", "backup")}
    yield servers
    for server in servers.values():
        server.process.terminate()
        server.process.wait(10)


@asynccontextmanager
async def services(upstreams, tmp_path, running: dict | None = None):
    """The two services; `running` (when given) gets the conversation service's server, for a test
    that stops it itself."""
    llm = LlmSettings(grpc_port=0, metrics_port=0, var_dir=tmp_path / "llm", local_enabled=False, cache_enabled=False, max_attempts=1,
                      openai_compatible=[{"name": name, "base_url": u.base_url, "models": ["fake-model"]} for name, u in upstreams.items()],
                      model_aliases={"chain": ["primary:fake-model", "backup:fake-model"]},
                      prices={target: {"input": str(i), "output": str(o)} for target, (i, o) in PRICES.items()},
                      tools_http_allowed_hosts=["127.0.0.1"], tools_http_allowed_networks=["127.0.0.0/8"], rag_target="127.0.0.1:1")
    await asyncio.to_thread(migrate_llm, llm)
    orchestrator = await start_grpc(build_orchestrator(llm), llm)
    settings = ConversationSettings(grpc_port=0, metrics_port=0, var_dir=tmp_path / "conv", llm_target=f"127.0.0.1:{orchestrator.port}",
                                    rag_target="127.0.0.1:1", auto_titles=False)
    await asyncio.to_thread(migrate, settings)
    conversation = await start_grpc(build_conversation(settings), settings)
    if running is not None:
        running["conversation"] = conversation
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{conversation.port}")
    try:
        yield conversation_pb2_grpc.ConversationServiceStub(channel)
    finally:
        await channel.close()
        await conversation.stop(1)
        await orchestrator.stop(1)


def billed(upstream) -> dict:
    return upstream.stats()["billed"]


async def ledger(stub) -> dict[str, pb.UsageRow]:
    usage = await stub.UserUsage(pb.TenantUsageRequest(caller=ALICE, since="2000-01-01", until="2100-01-01"), timeout=10)
    return {f"{r.provider}:{r.model}": r for r in usage.rows}


def assert_booked_as_billed(rows: dict[str, pb.UsageRow], bills: dict[str, dict]) -> None:
    for target, bill in bills.items():
        row = rows[target]
        price_in, price_out = PRICES[target]
        assert (row.prompt_tokens, row.completion_tokens) == (bill["prompt_tokens"], bill["completion_tokens"]) != (0, 0), target
        assert Decimal(row.cost) == (bill["prompt_tokens"] * price_in + bill["completion_tokens"] * price_out) / 1_000_000, target
        assert row.unpriced_turns == 0


def fetch_then_add(upstreams) -> tuple:
    """The upstreams reset, the primary scripted to fetch the backup's stats page (a sensitive
    call: the run pauses), then add 2 and 2, then fail: the resumed runs' script."""
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    target = backup.base_url.removesuffix("/v1") + "/stats"
    primary.control(tool_turns=[[{"name": "http_fetch", "arguments": json.dumps({"url": target})}],
                                [{"name": "calculator", "arguments": json.dumps({"expression": "2 + 2"})}]], fail_after=2)
    return primary, backup


async def test_each_step_is_booked_to_the_provider_that_served_it(upstreams, tmp_path):
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    # The primary asks for the calculator, then fails every request: the backup writes the answer.
    primary.control(tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "19 * 3"})}]], fail_after=1)
    backup.control(script="It is 57.")
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="What is 19 times 3?", model="chain", tools=["calculator"], use_rag=False)
        events = [event async for event in stub.Chat(request, timeout=30)]
        done = events[-1].completed
        assert done.finish_reason == "stop", events
        answer = (await stub.ListMessages(pb.ListMessagesRequest(caller=ALICE, conversation_id=done.conversation_id), timeout=10)).messages[-1]
        steps = [s for s in json.loads(answer.steps) if s["type"] == "model"]
        assert [s["provider"] for s in steps] == ["primary", "backup"] and answer.provider == "backup"
        rows = await ledger(stub)
    assert set(rows) == {"primary:fake-model", "backup:fake-model"}
    assert_booked_as_billed(rows, {"primary:fake-model": billed(primary), "backup:fake-model": billed(backup)})
    assert (rows["primary:fake-model"].turns, rows["backup:fake-model"].turns) == (0, 1)  # one answer, on the backup
    # Together, the rows are the answer.
    assert sum(r.prompt_tokens for r in rows.values()) == answer.usage.prompt_tokens
    assert sum(Decimal(r.cost) for r in rows.values()) == Decimal(answer.usage.cost)


async def test_a_resumed_run_books_its_steps_to_their_providers(upstreams, tmp_path):
    """The run pauses for approval after a step on the primary (booked then); the resumed leg has
    a step on the primary and, once it fails, one on the backup: each on its own row."""
    primary, backup = fetch_then_add(upstreams)
    backup.control(script="Fetched and added.")
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="Fetch the stats, then add 2 and 2.", model="chain", tools=["auto"],
                                 use_rag=False)
        first = [event async for event in stub.Chat(request, timeout=30)]
        pending = first[-2].approval_required
        assert first[-1].completed.finish_reason == "awaiting_approval" and pending.calls[0].name == "http_fetch"
        paused = await ledger(stub)
        assert set(paused) == {"primary:fake-model"}
        assert_booked_as_billed(paused, {"primary:fake-model": billed(primary)})

        resume = pb.ResumeRunRequest(caller=ALICE, run_id=pending.run_id, decisions=[pb.ToolDecision(action="approve")])
        resumed = [event async for event in stub.ResumeRun(resume, timeout=30)]
        assert resumed[-1].completed.finish_reason == "stop", resumed
        rows = await ledger(stub)
    assert primary.stats()["billed"]["answers"] == 2 and backup.stats()["billed"]["answers"] == 1
    assert set(rows) == {"primary:fake-model", "backup:fake-model"}
    assert_booked_as_billed(rows, {"primary:fake-model": billed(primary), "backup:fake-model": billed(backup)})
    assert (rows["primary:fake-model"].turns, rows["backup:fake-model"].turns) == (1, 0)  # the turn was counted when paused


async def test_a_run_stopped_after_two_tool_steps_books_them(upstreams, tmp_path):
    """The client goes away (a stopped run, as the gateway's stop cancels its stream) while the
    third step is streaming: the two steps the primary served and billed are booked on its row,
    tokens and cost, though the run sent neither its end nor its totals (before, the answer was
    booked with no prompt tokens: a run stopped just before its end cost nothing)."""
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    calc = [{"name": "calculator", "arguments": json.dumps({"expression": "19 * 3"})}]
    primary.control(tool_turns=[calc, calc], fail_after=2)
    backup.control(stall_after=2)  # the third step writes a little, then nothing until the client leaves
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="What is 19 times 3, twice?", model="chain", tools=["calculator"], use_rag=False)
        call = stub.Chat(request, timeout=30)
        results = 0
        async for event in call:
            results += event.WhichOneof("event") == "tool_result"
            if results == 2:
                break
        call.cancel()
        assert billed(primary)["answers"] == 2 and billed(backup)["answers"] == 0
        deadline = asyncio.get_running_loop().time() + 10
        while "primary:fake-model" not in (rows := await ledger(stub)) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        answer = (await stub.ListConversations(pb.ListConversationsRequest(caller=ALICE), timeout=10)).conversations
    assert "primary:fake-model" in rows, rows
    assert_booked_as_billed({"primary:fake-model": rows["primary:fake-model"]}, {"primary:fake-model": billed(primary)})
    assert sum(r.turns for r in rows.values()) == 1 and len(answer) == 1


async def failed_chat(stub, request) -> tuple[list[pb.ChatEvent], grpc.aio.AioRpcError]:
    """A turn that ends with an error: the events before it, and the error."""
    events = []
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        async for event in stub.Chat(request, timeout=30):
            events.append(event)
    return events, failed.value


async def test_a_run_that_fails_books_the_steps_it_finished(upstreams, tmp_path):
    """Step 1 (a tool call) is served by the primary; step 2 fails on every provider of the chain:
    the run fails, and step 1 is booked as the primary billed it (before, a failed run booked
    nothing: its usage came only with the run's end, so a run made to fail was free)."""
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    primary.control(tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "19 * 3"})}]], fail_after=1)
    backup.control(fail_after=0)
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="What is 19 times 3?", model="chain", tools=["calculator"], use_rag=False)
        events, _ = await failed_chat(stub, request)
        conversation_id = events[0].started.conversation_id
        answer = (await stub.ListMessages(pb.ListMessagesRequest(caller=ALICE, conversation_id=conversation_id), timeout=10)).messages[-1]
        rows = await ledger(stub)
    assert answer.finish_reason == "error"
    steps = json.loads(answer.steps or "[]")
    assert [(s["type"], s.get("provider") or s.get("status")) for s in steps] == [("model", "primary"), ("tool", "ok")]
    assert billed(primary)["answers"] == 1 and billed(backup)["answers"] == 0
    assert sum(r.turns for r in rows.values()) == 1
    assert_booked_as_billed({"primary:fake-model": rows["primary:fake-model"]}, {"primary:fake-model": billed(primary)})
    assert answer.usage.prompt_tokens == billed(primary)["prompt_tokens"]


async def test_a_resumed_run_that_fails_books_its_leg_and_records_the_call_that_ran(upstreams, tmp_path):
    """Approved, the paused call runs, the primary serves one more step, then every provider fails:
    the leg's step is booked, and the stored steps say the approved call ran (decision and
    result), where before they still showed it waiting for approval and the leg was free."""
    primary, backup = fetch_then_add(upstreams)
    backup.control(fail_after=0)
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="Fetch the stats, then add 2 and 2.", model="chain", tools=["auto"],
                                 use_rag=False)
        first = [event async for event in stub.Chat(request, timeout=30)]
        pending = first[-2].approval_required
        assert first[-1].completed.finish_reason == "awaiting_approval"
        resume = pb.ResumeRunRequest(caller=ALICE, run_id=pending.run_id, decisions=[pb.ToolDecision(action="approve")])
        with pytest.raises(grpc.aio.AioRpcError):
            [event async for event in stub.ResumeRun(resume, timeout=30)]
        conversation_id = first[-1].completed.conversation_id
        answer = (await stub.ListMessages(pb.ListMessagesRequest(caller=ALICE, conversation_id=conversation_id), timeout=10)).messages[-1]
        rows = await ledger(stub)
    assert answer.id == pending.run_id and answer.finish_reason == "error" and not answer.HasField("pending_approval")
    tools = {s["name"]: s for s in json.loads(answer.steps) if s["type"] == "tool"}
    assert (tools["http_fetch"]["decision"], tools["http_fetch"]["status"]) == ("approve", "ok")
    assert tools["calculator"]["status"] == "ok"
    assert billed(primary)["answers"] == 2 and billed(backup)["answers"] == 0
    assert set(rows) == {"primary:fake-model"}
    assert_booked_as_billed(rows, {"primary:fake-model": billed(primary)})
    assert rows["primary:fake-model"].turns == 1


async def test_a_run_stopped_while_its_answer_is_written_is_still_booked(upstreams, tmp_path):
    """The stop arrives while the finished answer is being written (held here by a lock on the
    conversation database): the write goes on and the run is booked. Before, the cancellation
    rolled the write back and the turn, marked recorded, wrote nothing more: a run stopped at its
    very end cost nothing and left no answer."""
    answer_at_57(upstreams)
    primary = upstreams["primary"]
    async with services(upstreams, tmp_path) as stub:
        (database,) = list((tmp_path / "conv").rglob("*.db"))
        call = stub.Chat(CALC, timeout=30)
        # The stop is aimed at the write. The assertions do not depend on it: a stop that came
        # before the write is booked too, through record_interrupted, so a slow machine cannot
        # fail this test; it would only test the earlier path.
        lock, _, text = await hold_database_at_the_answer(call, database)
        try:
            call.cancel()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        deadline = asyncio.get_running_loop().time() + 15
        while "primary:fake-model" not in (rows := await ledger(stub)) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        conversations = (await stub.ListConversations(pb.ListConversationsRequest(caller=ALICE), timeout=10)).conversations
    assert text == "It is 57."
    assert "primary:fake-model" in rows, rows
    assert_booked_as_billed({"primary:fake-model": rows["primary:fake-model"]}, {"primary:fake-model": billed(primary)})
    assert billed(primary)["answers"] == 2 and len(conversations) == 1


# The step cut short in the tests below: the backup writes two 8-character pieces, then nothing
# until the client leaves. Its last piece ends in Greek letters and a space: the canary is ASCII
# letters and neither is in the prompts here, so the leak guard holds none of it back, and the
# orchestrator's redactor holds no word that has ended. (It ended in circled digits until the
# output filter read them as digits, which it holds while a number may follow.)
CUT_SCRIPT, CUT_TEXT = "Jumping over \u03b1\u03b2 and on", "Jumping over \u03b1\u03b2 "


def cut_tokens() -> int:
    """The cut-off step's text as the conversation service counts it (the model "chain" has no
    tokenizer of its own here: the bundled model's, or the byte estimate without it)."""
    return open_counter().count([CUT_TEXT])[0]


async def stop_when_cut(call) -> str:
    """Reads a run's stream until the cut-off step's text is out, then cancels it (a stop): the
    text that came."""
    text = ""
    async for event in call:
        text += event.token.text if event.WhichOneof("event") == "token" else ""
        if "\u03b1\u03b2" in text:
            break
    call.cancel()
    return text


async def stored_answer(stub, conversation_id: str, reason: str = "cancelled") -> pb.Message:
    """The conversation's answer once it is stored with `reason` (a stop is recorded after the
    stream is cancelled)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        answer = (await stub.ListMessages(pb.ListMessagesRequest(caller=ALICE, conversation_id=conversation_id), timeout=10)).messages[-1]
        if answer.finish_reason == reason or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.1)


async def test_a_resumed_run_stopped_mid_step_books_the_text_of_that_step(upstreams, tmp_path):
    """Approved, the paused call runs; the next step (on the backup: the primary fails from now on)
    writes a little and stalls, and the client goes away. The leg books the text of its cut-off
    step, counted as the first leg counts it, on the provider that served it. Before, a stopped
    resumed leg booked only its settled steps: this one, none, so its partial answer was free."""
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    target = backup.base_url.removesuffix("/v1") + "/stats"
    primary.control(tool_turns=[[{"name": "http_fetch", "arguments": json.dumps({"url": target})}]], fail_after=1)
    backup.control(script=CUT_SCRIPT, script_piece=8, stall_after=2)
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="Fetch the stats.", model="chain", tools=["auto"], use_rag=False)
        first = [event async for event in stub.Chat(request, timeout=30)]
        pending, conversation_id = first[-2].approval_required, first[-1].completed.conversation_id
        assert first[-1].completed.finish_reason == "awaiting_approval"
        paused = await stored_answer(stub, conversation_id, "awaiting_approval")
        resume = pb.ResumeRunRequest(caller=ALICE, run_id=pending.run_id, decisions=[pb.ToolDecision(action="approve")])
        text = await stop_when_cut(stub.ResumeRun(resume, timeout=30))
        answer = await stored_answer(stub, conversation_id)
        rows = await ledger(stub)
    assert text == CUT_TEXT and answer.finish_reason == "cancelled" and answer.content.endswith(CUT_TEXT)
    assert billed(primary)["answers"] == 1 and billed(backup)["answers"] == 0  # the cut-off step was never billed
    assert answer.usage.completion_tokens == paused.usage.completion_tokens + cut_tokens()
    assert (answer.provider, answer.usage.prompt_tokens) == ("backup", paused.usage.prompt_tokens)
    assert rows["backup:fake-model"].completion_tokens == cut_tokens() and rows["backup:fake-model"].turns == 0
    assert_booked_as_billed({"primary:fake-model": rows["primary:fake-model"]}, {"primary:fake-model": billed(primary)})
    # The approved call is stored once (the leg saw it run; the paused run's steps held it).
    tools = [s for s in json.loads(answer.steps) if s["type"] == "tool"]
    assert [(t["name"], t["status"], t["decision"]) for t in tools] == [("http_fetch", "ok", "approve")], tools


async def test_a_stopped_run_counts_each_piece_of_its_text_once(upstreams, tmp_path):
    """The first step's text ends with words of the system prompt, which the leak guard holds back
    until more text comes: they are released with the next step's first piece, after the first
    step's usage came. That next step writes a little and stalls; the client goes away. The
    answer books the first step as the primary billed it and the cut-off step's text once. Before,
    the held-back words were counted again as part of the cut-off step (a few tokens too many)."""
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    held = "questions about arithmetic"
    primary.control(tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "19 * 3"})}]],
                    script=f"I will check {held}", fail_after=1)
    backup.control(script=CUT_SCRIPT, script_piece=8, stall_after=2)
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="What is 19 times 3?", model="chain", tools=["calculator"], use_rag=False,
                                 system_prompt=f"You answer {held} with care.")
        text = await stop_when_cut(stub.Chat(request, timeout=30))
        conversation_id = (await stub.ListConversations(pb.ListConversationsRequest(caller=ALICE), timeout=10)).conversations[0].id
        answer = await stored_answer(stub, conversation_id)
    assert text == f"I will check {held}{CUT_TEXT}" and answer.content == text
    assert billed(primary)["answers"] == 1 and billed(backup)["answers"] == 0
    assert answer.usage.prompt_tokens == billed(primary)["prompt_tokens"]
    assert answer.usage.completion_tokens == billed(primary)["completion_tokens"] + cut_tokens()


async def test_a_run_that_fails_in_its_first_step_books_its_cost_as_unknown(upstreams, tmp_path):
    """The first step's stream breaks after a little text and the backup fails too: the run fails
    before any step settled, so nothing of it was priced. Its answer and ledger row carry an
    unknown cost (an unpriced turn: 'unknown' on the dashboard), its text counted here. Before,
    the orchestrator's totals for a run with no settled step said "0", booked as $0."""
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    primary.control(script="Let me think about it first", cut_after=2)
    backup.control(fail_after=0)
    async with services(upstreams, tmp_path) as stub:
        request = pb.ChatRequest(caller=ALICE, message="What is 19 times 3?", model="chain", tools=["calculator"], use_rag=False)
        events, _ = await failed_chat(stub, request)
        conversation_id = events[0].started.conversation_id
        answer = await stored_answer(stub, conversation_id, "error")
        rows = await ledger(stub)
    assert answer.finish_reason == "error" and answer.content and answer.usage.completion_tokens > 0
    assert answer.usage.cost == ""  # unknown, not "0"
    row = rows[f"{answer.provider}:{answer.model}"]
    assert (row.turns, row.unpriced_turns, row.completion_tokens) == (1, 1, answer.usage.completion_tokens)


async def hold_database_at_the_answer(call, database):
    """Reads a run that calls the calculator and answers "It is 57." until the whole answer is out,
    holding the conversation database with an exclusive lock from the tool's result on, so the
    answer's write waits for it: the lock (its connection: roll back or commit to let the write
    go), the turn's first event (TurnStarted) and the answer's text."""
    lock, started, text = None, None, ""
    async for event in call:
        kind = event.WhichOneof("event")
        started = started or (event.started if kind == "started" else None)
        if kind == "tool_result":
            lock = sqlite3.connect(database, timeout=30, isolation_level=None)
            lock.execute("PRAGMA foreign_keys=ON")
            lock.execute("BEGIN EXCLUSIVE")
            text = ""
        elif kind == "token" and lock is not None:
            text += event.token.text
            if text == "It is 57.":
                break
    # The whole answer is out (its last piece is released with the run's end), so the turn is
    # writing it, or about to: a moment for the write to reach the lock. (The fake writes its
    # script with the tool call too: that text came before the lock, and is not counted here.)
    await asyncio.sleep(1.0)
    return lock, started, text


def answer_at_57(upstreams) -> None:
    for upstream in upstreams.values():
        upstream.control(reset=True)
    upstreams["primary"].control(tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "19 * 3"})}]],
                                 script="It is 57.")


CALC = pb.ChatRequest(caller=ALICE, message="What is 19 times 3?", model="chain", tools=["calculator"], use_rag=False)


async def test_a_shielded_write_that_fails_is_logged_by_name(upstreams, tmp_path, caplog):
    """The client goes away while the finished answer waits to be written, and meanwhile its
    conversation is deleted (from another tab): the write, which outlives the request, fails on
    the missing conversation. It is logged with a clear message naming the answer (not its text).
    Before, nothing waited for it: at most asyncio's 'Task exception was never retrieved'."""
    answer_at_57(upstreams)
    async with services(upstreams, tmp_path) as stub:
        (database,) = list((tmp_path / "conv").rglob("*.db"))
        call = stub.Chat(CALC, timeout=30)
        lock, started, text = await hold_database_at_the_answer(call, database)
        try:
            lock.execute("DELETE FROM conversations WHERE id = ?", (started.conversation_id,))
            call.cancel()
            await asyncio.sleep(0.2)
            lock.execute("COMMIT")
        finally:
            lock.close()
        deadline = asyncio.get_running_loop().time() + 10
        while asyncio.get_running_loop().time() < deadline and not (
                failed := [r for r in caplog.records if r.getMessage().startswith("a shielded write failed")]):
            await asyncio.sleep(0.1)
    assert text == "It is 57."
    assert [(r.levelname, r.write, r.error) for r in failed] == [("ERROR", started.assistant_message_id, "IntegrityError")]
    assert "57" not in failed[0].getMessage()


async def test_shutdown_waits_for_an_answer_being_written(upstreams, tmp_path):
    """The service shuts down while a finished run's answer waits to be written (the conversation
    database held by a lock, let go 2 s later): the shutdown waits for the write, so once the
    service has stopped the answer is stored and the run booked. Before, the shutdown went on
    and closed the database with the write still under way, a task nothing waited for."""
    answer_at_57(upstreams)
    running: dict = {}
    async with services(upstreams, tmp_path, running) as stub:
        (database,) = list((tmp_path / "conv").rglob("*.db"))
        call = stub.Chat(CALC, timeout=30)
        lock, started, text = await hold_database_at_the_answer(call, database)
        loop = asyncio.get_running_loop()
        released: list[bool] = []

        def let_go() -> None:
            lock.execute("ROLLBACK")
            released.append(True)

        release = loop.call_later(2.0, let_go)
        try:
            began = loop.time()
            await running["conversation"].stop(0.5)
            took = loop.time() - began
            # Read at once, as a restart would find it.
            with sqlite3.connect(database) as db:
                stored = db.execute("SELECT finish_reason, completion_tokens FROM messages WHERE id = ?",
                                    (started.assistant_message_id,)).fetchall()
                booked = db.execute("SELECT provider, prompt_tokens, completion_tokens FROM usage_ledger").fetchall()
        finally:
            release.cancel()
            if not released:
                lock.execute("ROLLBACK")
            lock.close()
    assert text == "It is 57."
    assert stored == [("stop", billed(upstreams["primary"])["completion_tokens"])]
    assert booked == [("primary", billed(upstreams["primary"])["prompt_tokens"], billed(upstreams["primary"])["completion_tokens"])]
    assert took >= 1.0  # the lock was let go 2 s after the stop began


def spent(events: list[pb.ChatEvent]) -> list[int]:
    return [e.spent.usage.total_tokens for e in events if e.WhichOneof("event") == "spent"]


def booked_total(rows: dict[str, pb.UsageRow]) -> int:
    return sum(r.prompt_tokens + r.completion_tokens for r in rows.values())


async def test_each_settled_step_is_told_as_the_runs_running_total(upstreams, tmp_path):
    """A run's stream tells what its settled steps used (TurnSpent, for the gateway's budgets) as
    each step settles, before the step's tool runs: totals that rise, ending at the completed
    usage; a resumed leg tells its own steps (what the ledger gains); a stopped run's last total
    is what was booked. Before, no such event came: a run stopped before its end charged 0."""
    primary, backup = upstreams["primary"], upstreams["backup"]
    for upstream in (primary, backup):
        upstream.control(reset=True)
    calc = [{"name": "calculator", "arguments": json.dumps({"expression": "19 * 3"})}]
    primary.control(tool_turns=[calc, calc], script="It is 57.")
    async with services(upstreams, tmp_path) as stub:
        events = [event async for event in stub.Chat(CALC, timeout=30)]
        kinds = [e.WhichOneof("event") for e in events]
        totals = spent(events)
        assert events[-1].completed.finish_reason == "stop", kinds
        assert len(totals) == 3 and totals == sorted(set(totals)) and totals[0] > 0, totals
        assert totals[-1] == events[-1].completed.usage.total_tokens == booked_total(await ledger(stub))
        assert kinds.index("spent") < kinds.index("tool_result")

    primary, backup = fetch_then_add(upstreams)
    backup.control(script="Fetched and added.")
    async with services(upstreams, tmp_path / "resumed") as stub:
        request = pb.ChatRequest(caller=ALICE, message="Fetch the stats, then add 2 and 2.", model="chain", tools=["auto"],
                                 use_rag=False)
        first = [event async for event in stub.Chat(request, timeout=30)]
        assert spent(first) == [booked_total(paused := await ledger(stub))]
        resume = pb.ResumeRunRequest(caller=ALICE, run_id=first[-2].approval_required.run_id,
                                     decisions=[pb.ToolDecision(action="approve")])
        resumed = [event async for event in stub.ResumeRun(resume, timeout=30)]
        assert resumed[-1].completed.finish_reason == "stop"
        leg = spent(resumed)
        assert len(leg) == 2 and leg[0] < leg[1] == booked_total(await ledger(stub)) - booked_total(paused), leg

    for upstream in (primary, backup):
        upstream.control(reset=True)
    primary.control(tool_turns=[calc, calc], fail_after=2)
    backup.control(stall_after=2)
    async with services(upstreams, tmp_path / "stopped") as stub:
        call = stub.Chat(CALC, timeout=30)
        events = []
        async for event in call:
            events.append(event)
            if sum(e.WhichOneof("event") == "tool_result" for e in events) == 2:
                break
        call.cancel()
        deadline = asyncio.get_running_loop().time() + 10
        while "primary:fake-model" not in (rows := await ledger(stub)) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
    totals = spent(events)
    assert len(totals) == 2 and totals[-1] == rows["primary:fake-model"].prompt_tokens + rows["primary:fake-model"].completion_tokens > 0
