"""GDPR over HTTP against the real fleet: the export holds all of a user's data; erasure removes
the user from every store (checked in the stores themselves) and reports it; admins do both for
their tenant's users; a Celery beat job purges messages past the retention period."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile

import httpx
import pytest
import sqlalchemy as sa

from e2e_support import NO_RATE_LIMITS, wait_for_document
from fleet import Fleet, Ports

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(http, email: str) -> dict[str, str]:
    return bearer(http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"])


def org(http) -> tuple[dict, str, dict, str, str]:
    """An organisation: (admin headers, admin id, member headers, member id, member e-mail)."""
    tag = uuid.uuid4().hex[:8]
    admin_email = f"priv-admin-{tag}@example.com"
    admin_id = http.post("/api/v1/auth/register", json={"email": admin_email, "password": PASSWORD, "organization": f"P {tag}"}).json()["id"]
    admin = sign_in(http, admin_email)
    email = f"priv-{tag}@example.com"
    member_id = http.post("/api/v1/admin/users", headers=admin, json={"email": email, "password": PASSWORD}).json()["id"]
    return admin, admin_id, sign_in(http, email), member_id, email


def populate(http, user: dict, text: str) -> tuple[list[dict], str, bytes]:
    """Two chat turns (conversation, messages, usage) and one indexed, shared document."""
    replies = [http.post("/api/v1/chat", headers=user, json={"message": m, "model": "fake:fake-model", "use_rag": False}).json()
               for m in ("first question about tea", "second question about coffee")]
    data = f"# Notes\n\n{text}".encode()
    document_id = http.post("/api/v1/documents", headers=user, data={"visibility": "tenant"},
                            files=[("files", ("notes.md", data))]).json()["documents"][0]["id"]
    assert wait_for_document(http, user, document_id)["status"] == "indexed"
    return replies, document_id, data


def database(fleet, service: str) -> sa.Engine:
    url = fleet.env.get(f"{service.upper()}_DATABASE_URL") or f"sqlite:///{fleet.var_dir / f'{service}.db'}"
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def rows(fleet, service: str, sql: str, **params) -> int:
    engine = database(fleet, service)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def test_export_holds_all_of_a_users_data(http, fleet):
    admin, _, user, user_id, email = org(http)
    replies, document_id, data = populate(http, user, "The export test document mentions a lighthouse.")
    key = http.post("/api/v1/admin/api-keys", headers=admin, json={"name": "k", "scopes": ["chat"], "user_id": user_id}).json()
    reply = http.get("/api/v1/me/export", headers=user)
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/zip"
    assert "attachment" in reply.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    read = lambda name: json.loads(archive.read(name))  # noqa: E731
    assert read("profile.json")["email"] == email
    conversations = read("conversations.json")
    assert {c["id"] for c in conversations} == {r["conversation_id"] for r in replies}
    contents = [m["content"] for c in conversations for m in c["messages"]]
    assert "first question about tea" in contents and replies[0]["content"] in contents
    assert [d["id"] for d in read("documents.json")] == [document_id]
    assert archive.read(f"files/{document_id}/notes.md") == data
    assert [k["id"] for k in read("api_keys.json")] == [key["id"]] and key["key"] not in reply.text
    assert read("usage.json")["tokens"]["total"] == sum(r["tokens_used"]["total"] for r in replies)
    assert "auth.login" in {e["action"] for e in read("activity.json")}
    # An API key cannot take the whole account's data; another user's export holds none of it.
    assert http.get("/api/v1/me/export", headers=bearer(key["key"])).status_code == 403
    _, _, stranger, _, _ = org(http)
    other = zipfile.ZipFile(io.BytesIO(http.get("/api/v1/me/export", headers=stranger).content))
    assert json.loads(other.read("conversations.json")) == [] and json.loads(other.read("documents.json")) == []


def test_erasure_removes_the_user_from_every_store(http, fleet):
    admin, _, user, user_id, email = org(http)
    marker = f"zebra{uuid.uuid4().hex[:6]}"
    replies, document_id, _ = populate(http, user, f"The erasure test document describes the {marker} enclosure.")
    key = http.post("/api/v1/admin/api-keys", headers=admin, json={"name": "k", "scopes": ["chat"], "user_id": user_id}).json()
    search = {"query": f"{marker} enclosure", "top_k": 5}
    assert any(h["chunk"]["document_id"] == document_id for h in http.post("/api/v1/search", headers=admin, json=search).json()["hits"])
    blob = fleet.var_dir / "blobs"
    assert any(document_id in p.name for p in blob.rglob("*"))

    wrong = http.request("DELETE", "/api/v1/me", headers=user, json={"password": "not my password"})
    assert wrong.status_code == 401
    assert http.request("DELETE", "/api/v1/me", headers=bearer(key["key"]), json={"password": PASSWORD}).status_code == 403
    erased = http.request("DELETE", "/api/v1/me", headers=user, json={"password": PASSWORD})
    assert erased.status_code == 200, erased.text
    removed = erased.json()["removed"]
    assert removed["gateway"]["users"] == 1 and removed["gateway"]["api_keys"] == 1 and removed["gateway"]["sessions"] >= 1
    assert removed["conversation"] == {"conversations": 2, "messages": 4, "memory_facts": 0}
    assert removed["rag"]["documents"] == 1 and removed["rag"]["vectors"] >= 1 and removed["blob_store"] == {"files": 1}
    assert removed["gateway"]["rate_limit_keys"] >= 1

    # The account, its sessions and keys are gone ...
    assert http.get("/api/v1/me", headers=user).status_code == 401
    assert http.get("/v1/models", headers=bearer(key["key"])).status_code == 401
    assert http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
    # ... and so is everything in the stores themselves.
    assert rows(fleet, "gateway", "SELECT count(*) FROM users WHERE id = :u", u=user_id) == 0
    assert rows(fleet, "gateway", "SELECT count(*) FROM api_keys WHERE user_id = :u", u=user_id) == 0
    assert rows(fleet, "gateway", "SELECT count(*) FROM refresh_tokens WHERE user_id = :u", u=user_id) == 0
    assert rows(fleet, "conversation", "SELECT count(*) FROM conversations WHERE user_id = :u", u=user_id) == 0
    for reply in replies:
        assert rows(fleet, "conversation", "SELECT count(*) FROM messages WHERE conversation_id = :c", c=reply["conversation_id"]) == 0
    assert rows(fleet, "rag", "SELECT count(*) FROM documents WHERE owner_id = :u", u=user_id) == 0
    hits = http.post("/api/v1/search", headers=admin, json=search).json()["hits"]
    assert all(h["chunk"]["document_id"] != document_id for h in hits)  # no vector left
    assert not any(document_id in p.name for p in blob.rglob("*"))
    events = http.get("/api/v1/admin/audit", headers=admin, params={"action": "user.erase"}).json()["events"]
    assert [e["target_id"] for e in events] == [user_id]


def test_admins_export_and_erase_their_tenants_users_only(http, fleet):
    admin, admin_id, user, user_id, _ = org(http)
    other_admin, *_ = org(http)
    http.post("/api/v1/chat", headers=user, json={"message": "hello", "model": "fake:fake-model", "use_rag": False})
    assert http.get(f"/api/v1/admin/users/{user_id}/export", headers=other_admin).status_code == 404
    assert http.delete(f"/api/v1/admin/users/{user_id}", headers=other_admin).status_code == 404
    assert http.get(f"/api/v1/admin/users/{user_id}/export", headers=user).status_code == 403
    exported = http.get(f"/api/v1/admin/users/{user_id}/export", headers=admin)
    assert exported.status_code == 200
    assert len(json.loads(zipfile.ZipFile(io.BytesIO(exported.content)).read("conversations.json"))) == 1
    # The last admin of an organisation with other users cannot be erased.
    assert http.delete(f"/api/v1/admin/users/{admin_id}", headers=admin).status_code == 409
    erased = http.delete(f"/api/v1/admin/users/{user_id}", headers=admin)
    assert erased.status_code == 200 and erased.json()["removed"]["conversation"]["conversations"] == 1
    assert http.delete(f"/api/v1/admin/users/{user_id}", headers=admin).status_code == 404
    actions = {e["action"] for e in http.get("/api/v1/admin/audit", headers=admin).json()["events"] if e["target_id"] == user_id}
    assert {"user.export", "user.erase"} <= actions


def test_celery_beat_purges_messages_past_retention(tmp_path, session_upstream):
    """A fleet whose retention is 3 seconds and whose beat checks every second."""
    env = {"INGEST_RETENTION_DAYS": str(3 / 86_400), "INGEST_RETENTION_CHECK_SECONDS": "1",
           "GATEWAY_LOG_LEVEL": "warning", "LLM_LOCAL_N_CTX": "2048",
           "LLM_OPENAI_COMPATIBLE": json.dumps([{"name": "fake", "base_url": session_upstream.base_url, "models": ["fake-model"]}]),
           **NO_RATE_LIMITS}  # it polls until the purge, however long that takes here
    fleet = Fleet(tmp_path / "var", Ports.free(), env, log_dir=tmp_path / "logs")
    fleet.start(timeout=120)
    try:
        with httpx.Client(base_url=fleet.url, timeout=60) as http:
            email = f"retention-{uuid.uuid4().hex[:8]}@example.com"
            http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
            user = sign_in(http, email)
            reply = http.post("/api/v1/chat", headers=user, json={"message": "remember this", "model": "fake:fake-model"}).json()
            conversation = reply["conversation_id"]
            assert len(http.get(f"/api/v1/conversations/{conversation}/messages", headers=user).json()["messages"]) == 2
            deadline = time.monotonic() + 60
            while http.get(f"/api/v1/conversations/{conversation}", headers=user).status_code != 404:
                assert time.monotonic() < deadline, "messages past retention were not purged"
                time.sleep(0.5)
        assert "retention purge done" in (tmp_path / "logs" / "ingest-worker.log").read_text()
    finally:
        fleet.stop()
