"""MCP over the whole fleet (SQLite and PostgreSQL).

A tenant admin registers a real MCP server (tools/mcp_test_server.py, the official SDK, with a
bearer credential) through the gateway's admin API: its tools are discovered by the orchestrator,
granted per role and called by a member's agent run (the provider the scripted fake upstream),
the credential is stored encrypted and never shown again, and a member cannot administer. The platform's own MCP server at /mcp answers the SDK's client with the caller's
rights only: a private document is found with its owner's key and invisible to a colleague's; a
key without the documents:read scope is refused."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from e2e_support import auth, stream_chat, upload, wait_for_document
from mcp_test_server import start_mcp_server

pytestmark = pytest.mark.e2e

TOKEN = "tenant-credential-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def mcp_server():
    server = start_mcp_server(token=TOKEN)
    yield server
    server.stop()


def _stored_credentials(fleet, server_id: str) -> str:
    """The row as the orchestrator keeps it (read here only to check what is at rest)."""
    query = "SELECT credentials FROM mcp_servers WHERE id = %s"
    if fleet.backend == "sqlite":
        with sqlite3.connect(fleet.var_dir / "llm.db") as conn:
            return conn.execute(query.replace("%s", "?"), (server_id,)).fetchone()[0]
    import psycopg

    with psycopg.connect(fleet.env["LLM_DATABASE_URL"]) as conn:
        return conn.execute(query, (server_id,)).fetchone()[0]


def test_an_admin_registers_a_server_its_tools_are_discovered_and_granted(http, fleet, alice, bob, mcp_server):
    body = {"name": f"crm-{uuid.uuid4().hex[:6]}", "url": mcp_server.url, "credentials": {"Authorization": f"Bearer {TOKEN}"}}
    refused = http.post("/api/v1/admin/mcp-servers", headers=auth(bob), json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"

    created = http.post("/api/v1/admin/mcp-servers", headers=auth(alice), json=body)
    assert created.status_code == 201, created.text
    server = created.json()
    assert server["last_error"] is None and server["credential_headers"] == ["Authorization"]
    tools = {t["name"]: t for t in server["tools"]}
    assert set(tools) == {"add", "lookup_order", "fail", "slow", "big"}
    assert tools["add"]["tool_name"] == f"{body['name']}__add" and set(tools["add"]["input_schema"]["properties"]) == {"a", "b"}
    assert all(t["allowed_roles"] == [] and t["sensitive"] for t in tools.values())

    granted = http.patch(f"/api/v1/admin/mcp-servers/{server['id']}/tools", headers=auth(alice),
                         json={"tools": [{"name": "add", "allowed_roles": ["member"], "sensitive": False}]})
    assert granted.status_code == 200, granted.text
    after = {t["name"]: t for t in granted.json()["tools"]}
    assert after["add"]["allowed_roles"] == ["member"] and not after["add"]["sensitive"]
    assert after["lookup_order"]["allowed_roles"] == []
    unknown = http.patch(f"/api/v1/admin/mcp-servers/{server['id']}/tools", headers=auth(alice),
                         json={"tools": [{"name": "rm_rf", "allowed_roles": ["member"]}]})
    assert unknown.status_code == 400 and unknown.json()["error"]["details"]["tool"] == "rm_rf"

    # The credential: encrypted at rest, in no answer, in no audit entry.
    assert TOKEN not in _stored_credentials(fleet, server["id"]) and _stored_credentials(fleet, server["id"])
    for path in ("", f"/{server['id']}", f"/{server['id']}/tools"):
        reply = http.get(f"/api/v1/admin/mcp-servers{path}", headers=auth(alice))
        assert reply.status_code == 200 and TOKEN not in reply.text
    audit = http.get("/api/v1/admin/audit", headers=auth(alice), params={"limit": 50}).json()["events"]
    actions = {e["action"] for e in audit if e["target_id"] == server["id"]}
    assert {"mcp_server.create", "mcp_server.tool_grants"} <= actions
    assert TOKEN not in str(audit)

    # An agent run of a member calls the granted tool through the whole fleet; the admin's role
    # has no grant, so for her the tool does not exist.
    tool = f"{body['name']}__add"
    fleet.upstream.control(reset=True)
    fleet.upstream.control(tool_turns=[[{"name": tool, "arguments": json.dumps({"a": 19, "b": 23})}]], script="It is 42.")
    calls_before = mcp_server.calls()
    evs = stream_chat(http, bob, {"message": "What is 19 plus 23?", "model": "fake:fake-model", "tools": [tool], "use_rag": False})
    results = [d for n, d in evs if n == "tool_result"]
    assert [r["status"] for r in results] == ["ok"] and "42" in results[0]["summary"], evs
    assert mcp_server.calls() == calls_before + 1
    refused = http.post("/api/v1/chat/stream", headers=auth(alice), json={"message": "hi", "model": "fake:fake-model", "tools": [tool]})
    assert refused.status_code == 400 and refused.json()["error"]["details"]["unknown"] == [tool]

    # A metadata address is refused (the fleet allows loopback only, for the test servers).
    metadata = http.post("/api/v1/admin/mcp-servers", headers=auth(alice),
                         json={"name": "meta", "url": "http://169.254.169.254/latest/mcp"})
    assert metadata.status_code == 400 and metadata.json()["error"]["details"]["field"] == "url"
    # A wrong credential: registered, with the reason, and no tools.
    wrong = http.post("/api/v1/admin/mcp-servers", headers=auth(alice),
                      json={"name": f"bad-{uuid.uuid4().hex[:6]}", "url": mcp_server.url, "credentials": {"Authorization": "Bearer no"}})
    assert wrong.status_code == 201 and "refused the credentials" in wrong.json()["last_error"] and wrong.json()["tools"] == []
    # The right credential, given again, reconnects and discovers the tools.
    fixed = http.patch(f"/api/v1/admin/mcp-servers/{wrong.json()['id']}", headers=auth(alice),
                       json={"credentials": {"Authorization": f"Bearer {TOKEN}"}})
    assert fixed.status_code == 200 and fixed.json()["last_error"] is None and len(fixed.json()["tools"]) == 5
    assert http.delete(f"/api/v1/admin/mcp-servers/{wrong.json()['id']}", headers=auth(alice)).status_code == 204
    assert http.get(f"/api/v1/admin/mcp-servers/{wrong.json()['id']}", headers=auth(alice)).status_code == 404


async def _mcp(url: str, key: str, tool: str, arguments: dict):
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http_client:
        async with Client(streamable_http_client(url, http_client=http_client), cache=None) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            return names, await client.call_tool(tool, arguments)


def _key(http: httpx.Client, admin: dict, scopes: list[str], user_id: str | None = None) -> str:
    body = {"name": "agent", "scopes": scopes, **({"user_id": user_id} if user_id else {})}
    reply = http.post("/api/v1/admin/api-keys", headers=auth(admin), json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["key"]


def test_the_platforms_mcp_server_answers_with_the_callers_rights_only(http, fleet, alice, bob):
    phrase = f"heliotrope{uuid.uuid4().hex[:8]}"
    uploaded = upload(http, alice, "private-plan.md", f"# Private plan\n\nThe launch codeword is {phrase}.".encode())
    document = uploaded.json()["documents"][0]["id"]
    assert wait_for_document(http, alice, document)["status"] == "indexed"
    bob_id = http.get("/api/v1/me", headers=auth(bob)).json()["id"]
    alice_key, bob_key = _key(http, alice, ["documents:read"]), _key(http, alice, ["documents:read"], bob_id)
    url = f"{fleet.url}/mcp"

    names, found = asyncio.run(_mcp(url, alice_key, "search_knowledge_base", {"query": f"launch codeword {phrase}"}))
    assert names == {"search_knowledge_base", "list_documents"}
    assert not found.is_error and found.structured_content["hits"][0]["chunk"]["document_id"] == document
    _, listed = asyncio.run(_mcp(url, alice_key, "list_documents", {"limit": 100}))
    assert document in {d["id"] for d in listed.structured_content["documents"]}

    _, hidden = asyncio.run(_mcp(url, bob_key, "search_knowledge_base", {"query": f"launch codeword {phrase}"}))
    assert not hidden.is_error and document not in {h["chunk"]["document_id"] for h in hidden.structured_content["hits"]}
    _, bobs = asyncio.run(_mcp(url, bob_key, "list_documents", {"limit": 100}))
    assert document not in {d["id"] for d in bobs.structured_content["documents"]}

    blank = asyncio.run(_mcp(url, alice_key, "search_knowledge_base", {"query": "   "}))[1]
    assert blank.is_error and "blank" in blank.content[0].text

    # Refused before any MCP message: no credential, a key without the scope (the one error shape).
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    anonymous = http.post("/mcp", json=initialize, headers=headers)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    chat_only = http.post("/mcp", json=initialize, headers={**headers, "Authorization": f"Bearer {_key(http, alice, ['chat'])}"})
    assert chat_only.status_code == 403 and chat_only.json()["error"]["details"]["permission"] == "documents:read"
