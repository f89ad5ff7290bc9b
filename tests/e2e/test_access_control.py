"""Tenants, roles, API keys, sessions and the audit log over HTTP against the real fleet, and
the authorisation matrix: every route, every kind of caller, each with its expected status."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from e2e_support import wait_for_document

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(http: httpx.Client, email: str, password: str = PASSWORD) -> dict:
    reply = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return reply.json()


@dataclass
class Org:
    tenant_id: str
    admin: dict[str, str]
    admin_id: str
    member: dict[str, str]
    member_id: str
    member2: dict[str, str]
    viewer: dict[str, str]
    viewer_id: str


def make_org(http: httpx.Client) -> Org:
    tag = uuid.uuid4().hex[:8]
    admin_email = f"admin-{tag}@example.com"
    created = http.post("/api/v1/auth/register", json={"email": admin_email, "password": PASSWORD, "organization": f"Org {tag}"})
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    admin = bearer(login(http, admin_email)["access_token"])
    users = {}
    for role, name in (("member", "member"), ("member", "member2"), ("viewer", "viewer")):
        email = f"{name}-{tag}@example.com"
        reply = http.post("/api/v1/admin/users", headers=admin, json={"email": email, "password": PASSWORD, "role": role})
        assert reply.status_code == 201, reply.text
        assert reply.json()["tenant_id"] == created.json()["tenant_id"] and reply.json()["role"] == role
        users[name] = (bearer(login(http, email)["access_token"]), reply.json()["id"])
    return Org(created.json()["tenant_id"], admin, created.json()["id"], users["member"][0], users["member"][1],
               users["member2"][0], users["viewer"][0], users["viewer"][1])


def create_key(http, admin: dict, scopes: list[str], user_id: str | None = None, **extra) -> dict:
    body = {"name": "partner", "scopes": scopes, **extra}
    if user_id:
        body["user_id"] = user_id
    reply = http.post("/api/v1/admin/api-keys", headers=admin, json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


def audit_actions(http, admin: dict, **params) -> list[dict]:
    reply = http.get("/api/v1/admin/audit", headers=admin, params={"limit": 500, **params})
    assert reply.status_code == 200, reply.text
    return reply.json()["events"]


@pytest.fixture(scope="module")
def orgs(http) -> tuple[Org, Org]:
    return make_org(http), make_org(http)


def test_roles_permissions_and_me(http, orgs):
    org, _ = orgs
    me = {name: http.get("/api/v1/me", headers=headers).json() for name, headers in
          (("admin", org.admin), ("member", org.member), ("viewer", org.viewer))}
    assert me["admin"]["role"] == "admin" and "admin" in me["admin"]["permissions"]
    assert me["member"]["permissions"] == ["chat", "documents:read", "documents:share", "documents:write"]
    assert me["viewer"]["permissions"] == ["chat", "documents:read"]
    assert {m["tenant_id"] for m in me.values()} == {org.tenant_id}
    # A viewer cannot upload, a member cannot administer.
    reply = http.post("/api/v1/documents", headers=org.viewer, files=[("files", ("a.txt", b"hello there"))])
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "PERMISSION_DENIED"
    assert http.get("/api/v1/admin/users", headers=org.member).status_code == 403


def test_viewer_reads_the_tenants_shared_documents_only(http, orgs):
    org, other = orgs
    shared = http.post("/api/v1/documents", headers=org.member, data={"visibility": "tenant"},
                       files=[("files", ("shared.md", b"# Shared\n\nThe cafeteria opens at seven thirty every weekday."))]).json()
    private = http.post("/api/v1/documents", headers=org.member,
                        files=[("files", ("private.md", b"# Private\n\nThe member's own note about quarterly goals."))]).json()
    shared_id, private_id = shared["documents"][0]["id"], private["documents"][0]["id"]
    assert wait_for_document(http, org.member, shared_id)["status"] == "indexed"
    listed = {d["id"] for d in http.get("/api/v1/documents", headers=org.viewer).json()["documents"]}
    assert shared_id in listed and private_id not in listed
    assert http.get(f"/api/v1/documents/{private_id}", headers=org.viewer).status_code == 404
    assert http.get(f"/api/v1/documents/{shared_id}", headers=other.admin).status_code == 404
    # The viewer cannot delete what it can read.
    assert http.delete(f"/api/v1/documents/{shared_id}", headers=org.viewer).status_code == 403


def test_role_change_applies_to_existing_sessions(http, orgs):
    org, _ = orgs
    tag = uuid.uuid4().hex[:8]
    user = http.post("/api/v1/admin/users", headers=org.admin,
                     json={"email": f"promote-{tag}@example.com", "password": PASSWORD, "role": "viewer"}).json()
    token = bearer(login(http, f"promote-{tag}@example.com")["access_token"])
    assert http.get("/api/v1/admin/users", headers=token).status_code == 403
    assert http.patch(f"/api/v1/admin/users/{user['id']}", headers=org.admin, json={"role": "admin"}).status_code == 200
    assert http.get("/api/v1/admin/users", headers=token).status_code == 200
    changes = audit_actions(http, org.admin, action="user.role_change")
    assert any(e["target_id"] == user["id"] and e["details"] == {"from": "viewer", "to": "admin"} for e in changes)
    # the organisation cannot lose its last admin
    lone = make_org(http)
    assert http.patch(f"/api/v1/admin/users/{lone.admin_id}", headers=lone.admin, json={"role": "member"}).status_code == 409


def test_logout_password_change_and_disable_end_every_session(http, orgs):
    org, _ = orgs
    tag = uuid.uuid4().hex[:8]
    email = f"sessions-{tag}@example.com"
    user = http.post("/api/v1/admin/users", headers=org.admin, json={"email": email, "password": PASSWORD, "role": "member"}).json()

    first, second = login(http, email), login(http, email)
    assert http.post("/api/v1/auth/logout", headers=bearer(first["access_token"])).status_code == 204
    for pair in (first, second):  # both sessions ended: access and refresh tokens
        assert http.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 401
        assert http.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401

    a, b = login(http, email), login(http, email)
    wrong = http.post("/api/v1/auth/password", headers=bearer(a["access_token"]),
                      json={"current_password": "not it", "new_password": "another long password"})
    assert wrong.status_code == 401
    changed = http.post("/api/v1/auth/password", headers=bearer(a["access_token"]),
                        json={"current_password": PASSWORD, "new_password": "another long password"})
    assert changed.status_code == 200, changed.text
    assert http.get("/api/v1/me", headers=bearer(b["access_token"])).status_code == 401
    assert http.get("/api/v1/me", headers=bearer(a["access_token"])).status_code == 401
    assert http.get("/api/v1/me", headers=bearer(changed.json()["access_token"])).status_code == 200
    assert http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401

    c = login(http, email, "another long password")
    key = create_key(http, org.admin, ["chat"], user_id=user["id"])
    assert http.get("/v1/models", headers=bearer(key["key"])).status_code == 200
    assert http.patch(f"/api/v1/admin/users/{user['id']}", headers=org.admin, json={"is_active": False}).status_code == 200
    assert http.get("/api/v1/me", headers=bearer(c["access_token"])).status_code == 401
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": c["refresh_token"]}).status_code == 401
    assert http.get("/v1/models", headers=bearer(key["key"])).status_code == 401  # its keys stop too
    assert http.post("/api/v1/auth/login", json={"email": email, "password": "another long password"}).status_code == 401
    actions = [e["action"] for e in audit_actions(http, org.admin) if e["actor_id"] == user["id"] or e["target_id"] == user["id"]]
    assert {"auth.logout", "auth.password_change", "user.disable", "auth.login"} <= set(actions)


def test_api_keys_shown_once_hashed_scoped_expiring_revocable(http, orgs):
    org, other = orgs
    key = create_key(http, org.admin, ["chat", "documents:read"], user_id=org.member_id, expires_in_days=30)
    raw = key["key"]
    assert raw.startswith("cbk_") and raw[36] == "_" and len(raw[37:]) == 43  # 256 random bits, URL-safe base64
    listed = http.get("/api/v1/admin/api-keys", headers=org.admin).json()["keys"]
    entry = next(k for k in listed if k["id"] == key["id"])
    assert "key" not in entry and raw not in str(listed)  # shown once, never again
    assert entry["scopes"] == ["chat", "documents:read"] and entry["expires_at"]
    # Bearer on /api/v1 and on /v1, acting for the member.
    me = http.get("/api/v1/me", headers=bearer(raw)).json()
    assert me["id"] == org.member_id and me["api_key_id"] == key["id"] and me["permissions"] == ["chat", "documents:read"]
    assert http.get("/v1/models", headers=bearer(raw)).status_code == 200
    assert http.get("/api/v1/documents", headers=bearer(raw)).status_code == 200
    denied = http.post("/api/v1/documents", headers=bearer(raw), files=[("files", ("a.txt", b"some words here"))])
    assert denied.status_code == 403
    # A key never grants more than its account: an admin-scoped key for a viewer cannot administer.
    viewer_key = create_key(http, org.admin, ["admin", "documents:write"], user_id=org.viewer_id)
    assert http.get("/api/v1/admin/users", headers=bearer(viewer_key["key"])).status_code == 403
    # Tampered, unknown and other tenants' keys.
    assert http.get("/api/v1/me", headers=bearer(raw[:-2] + ("AA" if raw[-2:] != "AA" else "BB"))).status_code == 401
    assert http.get("/api/v1/me", headers=bearer("cbk_" + "0" * 32 + "_" + "A" * 43)).status_code == 401
    assert http.delete(f"/api/v1/admin/api-keys/{key['id']}", headers=other.admin).status_code == 404
    assert http.get("/api/v1/me", headers=bearer(raw)).status_code == 200
    # Revocation applies at once.
    assert http.delete(f"/api/v1/admin/api-keys/{key['id']}", headers=org.admin).status_code == 204
    assert http.get("/api/v1/me", headers=bearer(raw)).status_code == 401
    actions = {(e["action"], e["target_id"]) for e in audit_actions(http, org.admin)}
    assert ("api_key.create", key["id"]) in actions and ("api_key.revoke", key["id"]) in actions
    # Scopes and expiry are validated.
    bad = http.post("/api/v1/admin/api-keys", headers=org.admin, json={"name": "x", "scopes": ["everything"]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    bad = http.post("/api/v1/admin/api-keys", headers=org.admin, json={"name": "x", "scopes": ["chat"], "expires_in_days": 0})
    assert bad.status_code == 400


def test_audit_log_records_logins_and_failures_per_tenant(http, orgs):
    org, other = orgs
    tag = uuid.uuid4().hex[:8]
    email = f"audited-{tag}@example.com"
    user = http.post("/api/v1/admin/users", headers=org.admin, json={"email": email, "password": PASSWORD}).json()
    assert http.post("/api/v1/auth/login", json={"email": email, "password": "wrong password!"}).status_code == 401
    login(http, email)
    events = [e for e in audit_actions(http, org.admin, action="auth.login") if e["actor_id"] == user["id"]]
    assert [e["outcome"] for e in events[:2]] == ["success", "failure"]  # newest first
    assert events[1]["details"]["reason"] == "wrong password" and events[0]["client_ip"]
    # Nothing of one tenant's log is visible to another tenant's admin.
    assert not [e for e in audit_actions(http, other.admin) if e["actor_id"] == user["id"]]
    # No secret or address reaches the log.
    text = str(audit_actions(http, org.admin))
    assert PASSWORD not in text and email not in text and "wrong password!" not in text


def test_audit_log_is_append_only_in_the_database(fleet):
    """The database itself refuses to change or remove an entry."""
    import sqlalchemy as sa

    url = fleet.env.get("GATEWAY_DATABASE_URL") or f"sqlite:///{fleet.var_dir / 'gateway.db'}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar() > 0
        for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
            with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


# -- the authorisation matrix ----------------------------------------------------------------

CALLERS = ("anonymous", "other_tenant", "other_user", "viewer", "member", "admin", "key_scoped", "key_unscoped")


@dataclass
class World:
    http: httpx.Client
    org: Org
    other: Org
    headers: dict[str, dict[str, str]]
    conversation: str
    document: str
    chunk: str
    model: str


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the OpenAPI template
    permission: str | None  # None: any authenticated caller
    owned: bool = False  # the object belongs to the member: anyone else gets 404
    tenant_object: bool = False  # the object belongs to the member's tenant: other tenants get 404
    call: Callable[[World, dict], httpx.Response] | None = None
    ok: int = 200
    key_status: int | None = None  # what an API key gets whatever its scopes (routes only a signed-in person may use)


def _new_conversation(w: World) -> str:
    return w.http.post("/api/v1/conversations", headers=w.headers["member"], json={"title": "t"}).json()["id"]


def _new_user(w: World) -> str:
    reply = w.http.post("/api/v1/admin/users", headers=w.headers["admin"],
                        json={"email": f"erase-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD})
    return reply.json()["id"]


def _new_invitation(w: World) -> str:
    reply = w.http.post("/api/v1/admin/invitations", headers=w.headers["admin"],
                        json={"email": f"invited-{uuid.uuid4().hex[:10]}@example.com"})
    return reply.json()["id"]


def _new_document(w: World) -> str:
    reply = w.http.post("/api/v1/documents", headers=w.headers["member"],
                        files=[("files", (f"{uuid.uuid4().hex}.txt", f"Disposable text {uuid.uuid4().hex}.".encode()))])
    return reply.json()["documents"][0]["id"]


def _new_mcp_server(w: World) -> str:
    """A registered MCP server of the organisation, left disabled (nothing listens at its URL)."""
    reply = w.http.post("/api/v1/admin/mcp-servers", headers=w.headers["admin"],
                        json={"name": f"m{uuid.uuid4().hex[:8]}", "url": "http://127.0.0.1:9/mcp", "enabled": False})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def _mcp_route(method: str, suffix: str = "", ok: int = 200, json: dict | None = None, tenant_object: bool = True) -> Route:
    template = "/api/v1/admin/mcp-servers" + ("/{server_id}" if tenant_object else "") + suffix
    return Route(method, template, "admin", tenant_object=tenant_object, ok=ok, call=lambda w, h: w.http.request(
        method, template.replace("{server_id}", _new_mcp_server(w)) if tenant_object else template, headers=h, json=json))


def _finished_answer(w: World) -> str:
    """A streamed answer of the member's, read to its end: its message id (its events stay
    followable for a while after)."""
    with w.http.stream("POST", "/api/v1/chat/stream", headers=w.headers["member"],
                       json={"message": "hi", "model": w.model, "use_rag": False}) as reply:
        assert reply.status_code == 200
        reply.read()
        return reply.headers["x-message-id"]


def _new_fact(w: World) -> str:
    """A fact the member's memory keeps (added through the API, memory on or off)."""
    reply = w.http.post("/api/v1/me/memory", headers=w.headers["member"], json={"content": f"My desk is {uuid.uuid4().hex[:8]}"})
    return reply.json()["id"]


def _answer(w: World) -> str:
    """An answer in the member's conversation: its feedback path."""
    reply = w.http.post("/api/v1/chat", headers=w.headers["member"],
                        json={"message": "hi", "model": w.model, "use_rag": False, "conversation_id": w.conversation})
    return f"/api/v1/conversations/{w.conversation}/messages/{reply.json()['id']}/feedback"


ROUTES = [
    Route("GET", "/api/v1/me", None, call=lambda w, h: w.http.get("/api/v1/me", headers=h)),
    Route("GET", "/api/v1/me/usage", None, call=lambda w, h: w.http.get("/api/v1/me/usage", headers=h)),
    Route("GET", "/api/v1/usage", None, call=lambda w, h: w.http.get("/api/v1/usage", headers=h)),
    Route("GET", "/api/v1/me/export", None, key_status=403, call=lambda w, h: w.http.get("/api/v1/me/export", headers=h)),
    Route("GET", "/api/v1/admin/users/{user_id}/export", "admin", tenant_object=True, call=lambda w, h: w.http.get(
        f"/api/v1/admin/users/{w.org.member_id}/export", headers=h)),
    Route("DELETE", "/api/v1/admin/users/{user_id}", "admin", tenant_object=True, call=lambda w, h: w.http.delete(
        f"/api/v1/admin/users/{_new_user(w)}", headers=h)),
    Route("POST", "/api/v1/chat", "chat", call=lambda w, h: w.http.post(
        "/api/v1/chat", headers=h, json={"message": "hi", "model": w.model, "use_rag": False})),
    Route("POST", "/api/v1/chat/stream", "chat", call=lambda w, h: w.http.post(
        "/api/v1/chat/stream", headers=h, json={"message": "hi", "model": w.model, "use_rag": False})),
    Route("GET", "/api/v1/chat/stream/{message_id}", "chat", owned=True, call=lambda w, h: w.http.get(
        f"/api/v1/chat/stream/{_finished_answer(w)}", headers=h)),
    # The answer has ended: its owner is told so (409), after the same checks as the others.
    Route("POST", "/api/v1/chat/stream/{message_id}/stop", "chat", owned=True, ok=409, call=lambda w, h: w.http.post(
        f"/api/v1/chat/stream/{_finished_answer(w)}/stop", headers=h)),
    Route("GET", "/api/v1/tools", "chat", call=lambda w, h: w.http.get("/api/v1/tools", headers=h)),
    # An answer that is no paused run: its owner is told it waits for nothing (409), anyone else that it does not exist.
    Route("POST", "/api/v1/runs/{run_id}/approval", "chat", owned=True, ok=409, call=lambda w, h: w.http.post(
        f"/api/v1/runs/{_finished_answer(w)}/approval", headers=h, json={"decision": "deny"})),
    Route("POST", "/v1/chat/completions", "chat", call=lambda w, h: w.http.post(
        "/v1/chat/completions", headers=h, json={"model": w.model, "messages": [{"role": "user", "content": "hi"}]})),
    Route("GET", "/v1/models", "chat", call=lambda w, h: w.http.get("/v1/models", headers=h)),
    Route("POST", "/v1/embeddings", "chat", call=lambda w, h: w.http.post(
        "/v1/embeddings", headers=h, json={"model": "all-MiniLM-L6-v2", "input": "the authorisation matrix"})),
    Route("POST", "/api/v1/conversations", "chat", ok=201, call=lambda w, h: w.http.post("/api/v1/conversations", headers=h, json={})),
    Route("GET", "/api/v1/conversations", "chat", call=lambda w, h: w.http.get("/api/v1/conversations", headers=h)),
    Route("GET", "/api/v1/conversations/{conversation_id}", "chat", owned=True,
          call=lambda w, h: w.http.get(f"/api/v1/conversations/{w.conversation}", headers=h)),
    Route("GET", "/api/v1/conversations/{conversation_id}/messages", "chat", owned=True,
          call=lambda w, h: w.http.get(f"/api/v1/conversations/{w.conversation}/messages", headers=h)),
    Route("PATCH", "/api/v1/conversations/{conversation_id}", "chat", owned=True,
          call=lambda w, h: w.http.patch(f"/api/v1/conversations/{w.conversation}", headers=h, json={"title": "renamed"})),
    Route("GET", "/api/v1/conversations/{conversation_id}/export", "chat", owned=True,
          call=lambda w, h: w.http.get(f"/api/v1/conversations/{w.conversation}/export", headers=h)),
    Route("PUT", "/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback", "chat", owned=True,
          call=lambda w, h: w.http.put(_answer(w), headers=h, json={"rating": "up"})),
    Route("DELETE", "/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback", "chat", owned=True, ok=204,
          call=lambda w, h: w.http.delete(_answer(w), headers=h)),
    Route("DELETE", "/api/v1/conversations/{conversation_id}", "chat", owned=True, ok=204,
          call=lambda w, h: w.http.delete(f"/api/v1/conversations/{_new_conversation(w)}", headers=h)),
    Route("GET", "/api/v1/me/memory", "chat", call=lambda w, h: w.http.get("/api/v1/me/memory", headers=h)),
    Route("PUT", "/api/v1/me/memory/settings", "chat", call=lambda w, h: w.http.put(
        "/api/v1/me/memory/settings", headers=h, json={"enabled": False})),
    Route("POST", "/api/v1/me/memory", "chat", ok=201, call=lambda w, h: w.http.post(
        "/api/v1/me/memory", headers=h, json={"content": "I read the authorisation matrix"})),
    Route("PATCH", "/api/v1/me/memory/{fact_id}", "chat", owned=True, call=lambda w, h: w.http.patch(
        f"/api/v1/me/memory/{_new_fact(w)}", headers=h, json={"content": "My desk moved"})),
    Route("DELETE", "/api/v1/me/memory/{fact_id}", "chat", owned=True, ok=204, call=lambda w, h: w.http.delete(
        f"/api/v1/me/memory/{_new_fact(w)}", headers=h)),
    Route("GET", "/api/v1/admin/memory-policy", "admin", call=lambda w, h: w.http.get("/api/v1/admin/memory-policy", headers=h)),
    Route("PUT", "/api/v1/admin/memory-policy", "admin", call=lambda w, h: w.http.put(
        "/api/v1/admin/memory-policy", headers=h, json={"user_memory_allowed": True})),
    Route("GET", "/api/v1/admin/evaluations", "admin", call=lambda w, h: w.http.get("/api/v1/admin/evaluations", headers=h)),
    Route("GET", "/api/v1/admin/evaluation-policy", "admin", call=lambda w, h: w.http.get("/api/v1/admin/evaluation-policy", headers=h)),
    Route("PUT", "/api/v1/admin/evaluation-policy", "admin", call=lambda w, h: w.http.put(
        "/api/v1/admin/evaluation-policy", headers=h, json={"share": 0})),
    Route("POST", "/api/v1/documents", "documents:write", ok=202, call=lambda w, h: w.http.post(
        "/api/v1/documents", headers=h, files=[("files", (f"{uuid.uuid4().hex}.txt", f"Upload {uuid.uuid4().hex}".encode()))])),
    Route("GET", "/api/v1/documents", "documents:read", call=lambda w, h: w.http.get("/api/v1/documents", headers=h)),
    Route("GET", "/api/v1/documents/{document_id}", "documents:read", owned=True,
          call=lambda w, h: w.http.get(f"/api/v1/documents/{w.document}", headers=h)),
    Route("GET", "/api/v1/documents/{document_id}/chunks/{chunk_id}", "documents:read", owned=True,
          call=lambda w, h: w.http.get(f"/api/v1/documents/{w.document}/chunks/{w.chunk}", headers=h)),
    # documents:share comes with documents:write (roles.py); false keeps the matrix's document private.
    Route("PATCH", "/api/v1/documents/{document_id}", "documents:write", owned=True,
          call=lambda w, h: w.http.patch(f"/api/v1/documents/{w.document}", headers=h, json={"shared": False})),
    Route("DELETE", "/api/v1/documents/{document_id}", "documents:write", owned=True, ok=204,
          call=lambda w, h: w.http.delete(f"/api/v1/documents/{_new_document(w)}", headers=h)),
    Route("POST", "/api/v1/search", "documents:read", call=lambda w, h: w.http.post(
        "/api/v1/search", headers=h, json={"query": "matrix"})),
    Route("GET", "/api/v1/admin/users", "admin", call=lambda w, h: w.http.get("/api/v1/admin/users", headers=h)),
    Route("POST", "/api/v1/admin/users", "admin", ok=201, call=lambda w, h: w.http.post(
        "/api/v1/admin/users", headers=h, json={"email": f"m-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD})),
    Route("PATCH", "/api/v1/admin/users/{user_id}", "admin", tenant_object=True, call=lambda w, h: w.http.patch(
        f"/api/v1/admin/users/{w.org.member_id}", headers=h, json={"role": "member"})),
    Route("GET", "/api/v1/admin/invitations", "admin", call=lambda w, h: w.http.get("/api/v1/admin/invitations", headers=h)),
    Route("POST", "/api/v1/admin/invitations", "admin", ok=201, call=lambda w, h: w.http.post(
        "/api/v1/admin/invitations", headers=h, json={"email": f"i-{uuid.uuid4().hex[:10]}@example.com"})),
    Route("DELETE", "/api/v1/admin/invitations/{invitation_id}", "admin", tenant_object=True, call=lambda w, h: w.http.delete(
        f"/api/v1/admin/invitations/{_new_invitation(w)}", headers=h)),
    Route("GET", "/api/v1/admin/api-keys", "admin", call=lambda w, h: w.http.get("/api/v1/admin/api-keys", headers=h)),
    Route("POST", "/api/v1/admin/api-keys", "admin", ok=201, call=lambda w, h: w.http.post(
        "/api/v1/admin/api-keys", headers=h, json={"name": "m", "scopes": ["chat"]})),
    Route("DELETE", "/api/v1/admin/api-keys/{key_id}", "admin", tenant_object=True, ok=204, call=lambda w, h: w.http.delete(
        f"/api/v1/admin/api-keys/{create_key(w.http, w.headers['admin'], ['chat'])['id']}", headers=h)),
    Route("GET", "/api/v1/admin/tenant", "admin", call=lambda w, h: w.http.get("/api/v1/admin/tenant", headers=h)),
    Route("PATCH", "/api/v1/admin/tenant", "admin", call=lambda w, h: w.http.patch(
        "/api/v1/admin/tenant", headers=h, json={"injection_policy": "block"})),
    Route("GET", "/api/v1/admin/audit", "admin", call=lambda w, h: w.http.get("/api/v1/admin/audit", headers=h)),
    Route("GET", "/api/v1/admin/usage", "admin", call=lambda w, h: w.http.get("/api/v1/admin/usage", headers=h)),
    _mcp_route("GET", tenant_object=False),
    Route("POST", "/api/v1/admin/mcp-servers", "admin", ok=201, call=lambda w, h: w.http.post(
        "/api/v1/admin/mcp-servers", headers=h, json={"name": f"m{uuid.uuid4().hex[:8]}", "url": "http://127.0.0.1:9/mcp",
                                                      "enabled": False})),
    _mcp_route("GET"),
    _mcp_route("PATCH", json={"timeout_seconds": 5}),
    _mcp_route("DELETE", ok=204),
    _mcp_route("POST", "/refresh"),
    _mcp_route("GET", "/tools"),
    _mcp_route("PATCH", "/tools", json={"tools": []}),
]
# Routes whose matrix lives elsewhere: public ones, and those that end the caller's own sessions
# (test_logout_password_change_and_disable_end_every_session; an API key gets 400 there).
ELSEWHERE = {
    ("POST", "/api/v1/auth/register"), ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/password"), ("POST", "/api/v1/ingest/events"),
    ("DELETE", "/api/v1/me"),  # erasure of the caller itself: test_privacy.py
    ("GET", "/api/v1/health"), ("GET", "/api/v1/ready"), ("GET", "/api/v1/metrics"),
    ("GET", "/.well-known/jwks.json"),
    # Public: an invitation's token is the caller's credential (test_invitations.py).
    ("POST", "/api/v1/auth/invitations/inspect"), ("POST", "/api/v1/auth/invitations/accept"),
    # Public: the sign-in screen's configuration and the browser sign-in (test_oidc_sign_in.py).
    ("GET", "/api/v1/auth/config"), ("GET", "/api/v1/auth/oidc/login"), ("GET", "/api/v1/auth/oidc/callback"),
}
PERMISSIONS = {
    "viewer": {"chat", "documents:read"},
    "member": {"chat", "documents:read", "documents:write"},
    "admin": {"chat", "documents:read", "documents:write", "admin"},
    "other_user": {"chat", "documents:read", "documents:write"},
    "other_tenant": {"chat", "documents:read", "documents:write", "admin"},
    "key_scoped": {"chat", "documents:read", "documents:write"},  # a key for the member with every scope it can use
    "key_unscoped": {"documents:read"},  # a key for the member with one scope
}
OWNERS = {"member", "key_scoped", "key_unscoped"}


def expected(route: Route, caller: str) -> int:
    if caller == "anonymous":
        return 401
    if caller.startswith("key_") and route.key_status is not None:
        return route.key_status
    if route.permission is not None and route.permission not in PERMISSIONS[caller]:
        return 403
    if route.owned and caller not in OWNERS:
        return 404
    if route.tenant_object and caller == "other_tenant":
        return 404
    return route.ok


@pytest.fixture(scope="module")
def world(http, fleet, orgs) -> World:
    org, other = orgs
    scoped = create_key(http, org.admin, ["chat", "documents:read", "documents:write"], user_id=org.member_id)
    unscoped = create_key(http, org.admin, ["documents:read"], user_id=org.member_id)
    headers = {"anonymous": {}, "other_tenant": other.admin, "other_user": org.member2, "viewer": org.viewer,
               "member": org.member, "admin": org.admin, "key_scoped": bearer(scoped["key"]), "key_unscoped": bearer(unscoped["key"])}
    conversation = http.post("/api/v1/conversations", headers=org.member, json={"title": "mine"}).json()["id"]
    upload = http.post("/api/v1/documents", headers=org.member,
                       files=[("files", ("matrix.md", b"# Matrix\n\nThe authorisation matrix covers every route."))])
    document = upload.json()["documents"][0]["id"]
    assert wait_for_document(http, org.member, document)["status"] == "indexed"
    hits = http.post("/api/v1/search", headers=org.member, json={"query": "authorisation matrix"}).json()["hits"]
    chunk = next(h["chunk"]["chunk_id"] for h in hits if h["chunk"]["document_id"] == document)
    return World(http, org, other, headers, conversation, document, chunk, "fake:fake-model")


def test_the_matrix_covers_every_route(http):
    spec = http.get("/api/v1/openapi.json").json()
    served = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    covered = {(r.method, r.path) for r in ROUTES} | ELSEWHERE
    assert served - covered == set(), "routes without an authorisation expectation"


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
def test_authorisation_matrix(world, route):
    seen = {}
    for caller in CALLERS:
        reply = route.call(world, world.headers[caller])
        seen[caller] = reply.status_code
        if reply.status_code >= 400:
            body = reply.json()
            assert set(body) == {"error"} and "Traceback" not in reply.text
    assert seen == {caller: expected(route, caller) for caller in CALLERS}


def test_admin_routes_answer_bad_input_with_4xx(http, orgs):
    org, _ = orgs
    for query in ("since=2020-01-01T00:00:00", "since=2020-01-01T00:00:00Z"):  # no offset means UTC
        assert http.get(f"/api/v1/admin/audit?{query}", headers=org.admin).status_code == 200
    for query in ("since=garbage", "action=DROP%20TABLE", "limit=100000"):
        assert http.get(f"/api/v1/admin/audit?{query}", headers=org.admin).status_code == 400
    assert http.patch("/api/v1/admin/tenant", headers=org.admin, json={"tokens_per_minute": 10**30}).status_code == 400
    assert http.patch("/api/v1/admin/tenant", headers=org.admin, json={"injection_policy": "maybe"}).status_code == 400
    assert http.patch(f"/api/v1/admin/users/{org.member_id}", headers=org.admin, json={"role": "god"}).status_code == 400
    assert http.post("/api/v1/admin/users", headers=org.admin, content=b"{bad json",
                     ).status_code == 400
    assert http.post("/api/v1/admin/api-keys", headers=org.admin, json={"name": "x" * 500, "scopes": ["chat"]}).status_code == 400
    assert http.get("/api/v1/me", headers=bearer("cbk_" + "x" * 5000)).status_code == 401


def test_nul_characters_get_a_400_not_a_database_error(http, orgs):
    """PostgreSQL refuses NUL in text; the gateway answers 400 before anything is stored."""
    org, _ = orgs
    for path in ("/api/v1/admin/audit?actor_id=a%00b", "/api/v1/documents?q=%00", "/api/v1/conversations?sort=%00"):
        reply = http.get(path, headers=org.admin)
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "VALIDATION_ERROR", (path, reply.text)
    before = http.get("/api/v1/conversations", headers=org.member).json()["pagination"]["total"]
    reply = http.post("/api/v1/chat", headers={**org.member, "Content-Type": "application/json"},
                      content=b'{"message": "hello \\u0000 there", "model": "fake:fake-model"}')
    assert reply.status_code == 400 and "NUL" in reply.json()["error"]["message"]
    assert http.get("/api/v1/conversations", headers=org.member).json()["pagination"]["total"] == before
