"""Tenants' MCP servers on the orchestrator's real tables (SQLite and PostgreSQL) against a real
MCP server (tools/mcp_test_server.py, the official SDK, streamable HTTP on loopback, and the same
server over stdio): discovery, grants per role, calls through the tool adapter, credentials sent
to the server yet stored only encrypted, and the refusals (other roles, other tenants, private
addresses, commands the operator did not list)."""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from chatbot_common import db
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.net_guard import AddressPolicy
from llm_orchestrator.mcp.connections import McpConnections
from llm_orchestrator.mcp.registry import Caller, Limits, McpRegistry
from llm_orchestrator.mcp.servicer import server_pb
from llm_orchestrator.secrets import SecretBox
from llm_orchestrator.server import MIGRATIONS
from fake_openai_upstream import start_upstream
from llm_orchestrator.agents.limits import RunLimits
from llm_orchestrator.agents.loop import AgentLoop, ApprovalNeeded, RunEnded, ToolObserved
from llm_orchestrator.agents.state import RunState
from llm_orchestrator.pricing import PriceTable
from llm_orchestrator.providers.base import ChatMessage, GenParams, ToolCall
from llm_orchestrator.providers.openai import OpenAIProvider
from llm_orchestrator.resilience import CircuitBreaker
from llm_orchestrator.router import Router, RouterPolicy
from llm_orchestrator.tools.base import ToolContext
from llm_orchestrator.tools.registry import ToolRegistry
from llm_orchestrator.tools.running import execute, run_tool, validate_arguments
from mcp_test_server import start_mcp_server

pytestmark = pytest.mark.contract

TOKEN = "s3cret-" + "x" * 20
ADMIN = Caller(tenant_id="ten_a", user_id="usr_admin")
MEMBER = ToolContext(tenant_id="ten_a", user_id="usr_m", roles=("member",))
VIEWER = ToolContext(tenant_id="ten_a", user_id="usr_v", roles=("viewer",))
STRANGER = ToolContext(tenant_id="ten_b", user_id="usr_s", roles=("member",))
TEST_SERVER = Path(__file__).resolve().parents[4] / "tools" / "mcp_test_server.py"


@pytest.fixture(scope="module")
def mcp_server():
    server = start_mcp_server(token=TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def legacy_server():
    """The same server of the handshake era: sessions, answers in event streams, the GET stream."""
    server = start_mcp_server(token=TOKEN, legacy=True)
    yield server
    server.stop()


@pytest.fixture
async def registry(database_url):
    await asyncio.to_thread(db.upgrade_to_head, MIGRATIONS, db.normalize_url(database_url))  # Alembic runs its own loop
    engine = db.create_engine(database_url)
    policy = AddressPolicy(["127.0.0.0/8"])
    connections = McpConnections(policy, connect_timeout=10, idle_seconds=60)
    registry = McpRegistry(db.session_factory(engine), SecretBox(Fernet.generate_key().decode()), connections, policy,
                           Limits({"local-tools": [sys.executable, str(TEST_SERVER), "--stdio"]}, 10.0, 2000))
    registry.engine = engine
    yield registry
    await connections.aclose()
    await engine.dispose()


async def test_a_granted_tool_is_offered_to_its_roles_and_called_over_http_with_the_credentials(registry, mcp_server):
    server = await registry.create(ADMIN, name="crm", transport="http", url=mcp_server.url, command="",
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None, enabled=True)
    assert server.last_error == ""
    assert {t.name for t in server.tools} == {"add", "lookup_order", "fail", "slow", "big"}
    assert all(t.allowed_roles == [] and t.sensitive for t in server.tools)  # nobody until granted; approval by default
    assert await registry.tools_for(MEMBER) == []

    await registry.set_grants(ADMIN, server.id, [("add", ["member"], False), ("lookup_order", ["admin"], None)])
    (add,) = await registry.tools_for(MEMBER)
    assert add.spec.name == "crm__add" and not add.sensitive
    assert set(add.spec.parameters["properties"]) == {"a", "b"}
    calls_before = mcp_server.calls()
    result = await add.call({"a": 2, "b": 3}, MEMBER)
    assert (result.content, result.is_error) == ("5", False)
    assert mcp_server.calls() == calls_before + 1

    # Not granted to the member's role, a viewer, another tenant: refused before the server hears of it.
    assert (await registry.call(server.id, "lookup_order", {"order_id": "A-1001"}, MEMBER)).is_error
    assert await registry.tools_for(VIEWER) == [] and await registry.tools_for(STRANGER) == []
    assert (await add.call({"a": 1, "b": 1}, VIEWER)).is_error
    assert (await add.call({"a": 1, "b": 1}, STRANGER)).is_error
    assert mcp_server.calls() == calls_before + 1
    with pytest.raises(AppError) as other_tenant:
        await registry.get(Caller("ten_b", "usr_s"), server.id)
    assert other_tenant.value.code is ErrorCode.NOT_FOUND

    # Taking the grant back applies to the next call of a tool a run already holds.
    await registry.set_grants(ADMIN, server.id, [("add", [], None)])
    refused = await add.call({"a": 2, "b": 3}, MEMBER)
    assert refused.is_error and "not available" in refused.content
    assert mcp_server.calls() == calls_before + 1


async def test_credentials_are_kept_encrypted_and_never_given_back(registry, mcp_server):
    server = await registry.create(ADMIN, name="vault", transport="http", url=mcp_server.url, command="",
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None, enabled=True)
    async with registry.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT credentials, credential_headers FROM mcp_servers WHERE id = :id"),
                                     {"id": server.id})).one()
    assert TOKEN not in stored[0] and "Bearer" not in stored[0]
    assert registry.box.open(stored[0]) == {"Authorization": f"Bearer {TOKEN}"}
    reply = server_pb(await registry.get(ADMIN, server.id))
    assert list(reply.credential_headers) == ["Authorization"]
    assert TOKEN.encode() not in reply.SerializeToString()


async def test_a_server_that_refuses_or_fails_is_reported_never_raised(registry, mcp_server):
    wrong = await registry.create(ADMIN, name="wrong-key", transport="http", url=mcp_server.url, command="",
                                  headers={"Authorization": "Bearer nope"}, timeout=None, enabled=True)
    assert "refused the credentials (HTTP 401)" in wrong.last_error and wrong.tools == [] and "nope" not in wrong.last_error

    server = await registry.create(ADMIN, name="crm", transport="http", url=mcp_server.url, command="",
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=1.0, enabled=True)
    await registry.set_grants(ADMIN, server.id, [("fail", ["member"], None), ("slow", ["member"], None),
                                                 ("lookup_order", ["member"], None)])
    tools = {t.spec.name: t for t in await registry.tools_for(MEMBER)}
    failed = await tools["crm__fail"].call({}, MEMBER)
    assert failed.is_error and "always fails" in failed.content
    slow = await tools["crm__slow"].call({"seconds": 5}, MEMBER)
    assert slow.is_error and "did not answer" in slow.content
    order = await tools["crm__lookup_order"].call({"order_id": "A-1001"}, MEMBER)  # the session still serves
    assert not order.is_error and "shipped" in order.content


async def test_an_answer_past_the_size_cap_fails_that_call_only(registry, mcp_server):
    """An answer over LLM_MCP_MAX_RESPONSE_BYTES is not read past the cap: the call is an error
    observation naming the cap, and the session serves the next call."""
    capped = McpConnections(AddressPolicy(["127.0.0.0/8"]), connect_timeout=10, idle_seconds=60, max_response_bytes=64 * 1024)
    try:
        strict = McpRegistry(registry.sessions, registry.box, capped, AddressPolicy(["127.0.0.0/8"]), registry.limits)
        server = await strict.create(ADMIN, name="bulky", transport="http", url=mcp_server.url, command="",
                                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None, enabled=True)
        await strict.set_grants(ADMIN, server.id, [("big", ["member"], False), ("add", ["member"], False)])
        tools = {t.spec.name: t for t in await strict.tools_for(MEMBER)}
        fits = await tools["bulky__big"].call({"size": 1000}, MEMBER)
        assert (fits.is_error, len(fits.content)) == (False, 1000)
        calls = mcp_server.calls()
        too_big = await run_tool(tools["bulky__big"], {"size": 20_000_000}, MEMBER)
        assert too_big.is_error and "larger than 65536 bytes" in too_big.content, too_big.content
        assert mcp_server.calls() == calls + 1  # the server answered; the orchestrator stopped reading
        after = await tools["bulky__add"].call({"a": 2, "b": 2}, MEMBER)
        assert (after.content, after.is_error) == ("4", False)
    finally:
        await capped.aclose()


async def test_an_event_stream_session_is_capped_per_message_never_in_total(registry, legacy_server):
    """Over event streams the cap holds per message: a call whose answer comes after 200 kB of
    small notifications passes a 64 KiB cap, and so does the session's long-lived GET stream
    through 600 kB of them (each round ends with a ping the client answers only if it still reads
    that stream); one message past the cap fails its call, and the same session goes on."""
    capped = McpConnections(AddressPolicy(["127.0.0.0/8"]), connect_timeout=10, idle_seconds=60, max_response_bytes=64 * 1024)
    try:
        strict = McpRegistry(registry.sessions, registry.box, capped, AddressPolicy(["127.0.0.0/8"]), registry.limits)
        server = await strict.create(ADMIN, name="chatty", transport="http", url=legacy_server.url, command="",
                                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None, enabled=True)
        assert server.last_error == "" and "chatter" in {t.name for t in server.tools}
        await strict.set_grants(ADMIN, server.id, [(name, ["member"], False) for name in ("chatter", "big", "add")])
        tools = {t.spec.name: t for t in await strict.tools_for(MEMBER)}

        async def chatter(**arguments):
            return await run_tool(tools["chatty__chatter"], {"count": 100, "size": 2000, **arguments}, MEMBER)

        first = await chatter()
        assert (first.is_error, first.content) == (False, "sent 100")
        (session,) = capped._sessions.values()
        for _ in range(3):
            standalone = await chatter(standalone=True)
            assert (standalone.is_error, standalone.content) == (False, "sent 100")

        fits = await run_tool(tools["chatty__big"], {"size": 30_000}, MEMBER)
        assert not fits.is_error and fits.content.startswith("x" * 1000)  # (cut for the model at 2,000 characters)
        too_big = await run_tool(tools["chatty__big"], {"size": 200_000}, MEMBER)
        assert too_big.is_error and "larger than 65536 bytes" in too_big.content, too_big.content
        assert (await chatter(standalone=True)).content == "sent 100"
        assert (await run_tool(tools["chatty__add"], {"a": 2, "b": 2}, MEMBER)).content == "4"
        assert list(capped._sessions.values()) == [session] and not session.broken
    finally:
        await capped.aclose()


async def test_a_stdio_server_is_capped_per_line(registry):
    """A stdio server's line past the cap is dropped as it comes: the call it answers fails at
    once naming the cap, the orchestrator never holds the line, and the same process serves on,
    200 kB of small messages included."""
    capped = McpConnections(AddressPolicy(), connect_timeout=10, idle_seconds=60, max_response_bytes=64 * 1024)
    try:
        local = McpRegistry(registry.sessions, registry.box, capped, AddressPolicy(),
                            Limits({"chatty": [sys.executable, str(TEST_SERVER), "--stdio", "--legacy"]}, 10.0, 2000))
        server = await local.create(ADMIN, name="local", transport="stdio", url="", command="chatty", headers={},
                                    timeout=None, enabled=True)
        assert server.last_error == ""
        await local.set_grants(ADMIN, server.id, [(name, ["member"], False) for name in ("chatter", "big", "add")])
        tools = {t.spec.name: t for t in await local.tools_for(MEMBER)}
        fits = await run_tool(tools["local__big"], {"size": 30_000}, MEMBER)
        assert not fits.is_error and fits.content.startswith("x" * 1000)  # (cut for the model at 2,000 characters)
        (session,) = capped._sessions.values()

        tracemalloc.start()
        try:
            started = time.monotonic()
            too_big = await run_tool(tools["local__big"], {"size": 20_000_000}, MEMBER)
            took, peak = time.monotonic() - started, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert too_big.is_error and "larger than 65536 bytes" in too_big.content, too_big.content
        assert took < 5 and peak < 5_000_000, (took, peak)

        chatter = await run_tool(tools["local__chatter"], {"count": 100, "size": 2000}, MEMBER)
        assert (chatter.is_error, chatter.content) == (False, "sent 100")
        assert (await run_tool(tools["local__add"], {"a": 40, "b": 2}, MEMBER)).content == "42"
        assert list(capped._sessions.values()) == [session] and not session.broken
    finally:
        await capped.aclose()


async def test_private_addresses_and_unlisted_commands_are_refused(registry):
    strict = McpRegistry(registry.sessions, registry.box, registry.connections, AddressPolicy(), registry.limits)
    for url in ("http://127.0.0.1:9/mcp", "http://169.254.169.254/latest", "http://localhost:9/mcp", "http://10.0.0.7/mcp"):
        with pytest.raises(AppError) as refused:
            await strict.create(ADMIN, name="internal", transport="http", url=url, command="", headers={}, timeout=None,
                                enabled=True)
        assert refused.value.code is ErrorCode.VALIDATION_ERROR and refused.value.details["field"] == "url"
    with pytest.raises(AppError) as refused:
        await registry.create(ADMIN, name="shell", transport="stdio", url="", command="bash", headers={}, timeout=None,
                              enabled=True)
    assert refused.value.details == {"field": "command", "allowed": ["local-tools"]}
    assert await registry.list(ADMIN) == []


async def test_an_allow_listed_stdio_command_serves_its_tools(registry):
    server = await registry.create(ADMIN, name="local", transport="stdio", url="", command="local-tools", headers={},
                                   timeout=None, enabled=True)
    assert server.last_error == "" and "add" in {t.name for t in server.tools}
    await registry.set_grants(ADMIN, server.id, [("add", ["viewer"], False)])
    (add,) = await registry.tools_for(VIEWER)
    assert (await add.call({"a": 40, "b": 2}, VIEWER)).content == "42"


async def test_a_runs_tool_set_holds_the_granted_mcp_tools_of_its_callers_roles_only(registry, mcp_server):
    """Through the agent loop's seam (tools.registry): what a run is offered and what it may call."""
    server = await registry.create(ADMIN, name="crm", transport="http", url=mcp_server.url, command="",
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None, enabled=True)
    await registry.set_grants(ADMIN, server.id, [("add", ["member"], False)])
    tools = ToolRegistry(providers=[registry])
    member_set, viewer_set = await tools.for_caller(MEMBER), await tools.for_caller(VIEWER)
    assert "crm__add" in member_set and not member_set.is_sensitive("crm__add")
    assert "crm__add" not in viewer_set and "crm__lookup_order" not in member_set
    calls_before = mcp_server.calls()
    invalid = await member_set.run(ToolCall("c1", "crm__add", '{"a": 2, "b": "three"}'), MEMBER)
    assert invalid.is_error and mcp_server.calls() == calls_before  # refused by the schema, before the server
    assert (await member_set.run(ToolCall("c2", "crm__add", '{"a": 2, "b": 3}'), MEMBER)).content == "5"
    refused = await viewer_set.run(ToolCall("c3", "crm__add", '{"a": 2, "b": 3}'), VIEWER)
    assert refused.is_error and mcp_server.calls() == calls_before + 1


async def test_the_agent_loop_calls_a_granted_mcp_tool_and_waits_for_a_person_before_a_sensitive_one(registry, mcp_server):
    """The real loop, its model the scripted fake upstream over HTTP asking for the MCP tools."""
    server = await registry.create(ADMIN, name="crm", transport="http", url=mcp_server.url, command="",
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None, enabled=True)
    await registry.set_grants(ADMIN, server.id, [("add", ["member"], False), ("lookup_order", ["member"], None)])
    tools = (await ToolRegistry(providers=[registry]).for_caller(MEMBER)).tools
    upstream = start_upstream(tokens=3, gap_ms=1.0)
    try:
        provider = OpenAIProvider("fake", "key", upstream.base_url, ["fake-model"], 8192, 10.0)
        router = Router({"fake": provider}, {}, "fake:fake-model", RouterPolicy(max_attempts=1), lambda: CircuitBreaker(5, 30.0))
        loop = AgentLoop(lambda messages, params: router.generate("fake:fake-model", "", messages, params), PriceTable({}).cost,
                         tools, lambda tool, text: validate_arguments(tool.spec, text), execute, RunLimits(), MEMBER)

        async def run(question: str) -> list:
            state = RunState([ChatMessage("user", question)])
            return [event async for event in loop.run(state, GenParams(max_tokens=50))]

        upstream.control(tool_turns=[[{"name": "crm__add", "arguments": '{"a": 19, "b": 23}'}]], script="It is 42.")
        events = await run("What is 19 plus 23?")
        (observed,) = [e for e in events if isinstance(e, ToolObserved)]
        assert (observed.status, observed.result.content) == ("ok", "42")
        assert isinstance(events[-1], RunEnded) and events[-1].finish_reason == "stop"
        assert upstream.stats()["bodies"][-1]["messages"][-1] == {"role": "tool", "tool_call_id": observed.call.id, "content": "42"}

        calls_before = mcp_server.calls()
        upstream.control(reset=True)
        upstream.control(tool_turns=[[{"name": "crm__lookup_order", "arguments": '{"order_id": "A-1001"}'}]])
        events = await run("Where is order A-1001?")
        assert isinstance(events[-1], RunEnded) and events[-1].finish_reason == "awaiting_approval"
        assert [c.name for c in next(e for e in events if isinstance(e, ApprovalNeeded)).calls] == ["crm__lookup_order"]
        assert mcp_server.calls() == calls_before  # nothing reached the server before a person decides
    finally:
        upstream.process.terminate()
        upstream.process.wait(10)


class _Resolver(AddressPolicy):
    """Resolves one made-up name to loopback (as a DNS answer would), every other name as usual."""

    async def resolve(self, host: str, port: int) -> list[str]:
        return await super().resolve("127.0.0.1" if host == "mcp.example.invalid" else host, port)


async def test_each_request_goes_to_the_address_that_was_checked(registry, mcp_server):
    """The system resolver knows no .invalid name: the session reaches the server only because
    every request is sent to the address the policy resolved and checked."""
    url = mcp_server.url.replace("127.0.0.1", "mcp.example.invalid")
    pinned = McpConnections(_Resolver(["127.0.0.0/8"]), connect_timeout=10, idle_seconds=60)
    try:
        strict = McpRegistry(registry.sessions, registry.box, pinned, _Resolver(["127.0.0.0/8"]), registry.limits)
        server = await strict.create(ADMIN, name="named", transport="http", url=url, command="",
                                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None, enabled=True)
        assert server.last_error == "" and "add" in {t.name for t in server.tools}
        # The same name where loopback is not allowed: refused before anything is sent.
        refused = McpConnections(_Resolver(), connect_timeout=10, idle_seconds=60)
        strict.connections = refused
        again = await strict.refresh(ADMIN, server.id)
        assert "not a public address" in again.last_error
        await refused.aclose()
    finally:
        await pinned.aclose()
