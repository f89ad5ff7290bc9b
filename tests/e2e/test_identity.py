"""Identity over HTTP against the running fleet: forged and mutated tokens (the unit matrix's own
cases), API keys that really expire, open sign-ups that never share an organisation, and the
audit entries of uploads and deletions."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from jwt_mutations import CASES as JWT_CASES, Forge

from e2e_support import add_colleague, auth, register_and_login, upload, wait_for_document

pytestmark = pytest.mark.e2e
ERROR_SHAPE = ["code", "details", "message"]
# The fleet runs with the gateway's default issuer and audience (tests/e2e/conftest.py sets neither).
ISSUER, AUDIENCE = "chatbot-gateway", "chatbot-api"


def assert_unauthenticated(reply: httpx.Response) -> None:
    assert reply.status_code == 401, reply.text
    error = reply.json()["error"]
    assert sorted(error) == ERROR_SHAPE and error["code"] == "AUTHENTICATION_ERROR" and isinstance(error["details"], dict)
    assert reply.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
def forge(http, fleet, alice) -> Forge:
    """Tokens signed with the gateway's own newest key, naming Alice: only the mutation is wrong."""
    keys = sorted((fleet.var_dir / "gateway" / "jwt-keys").glob("*.pem"), key=lambda p: (p.stat().st_mtime, p.stem))
    private = serialization.load_pem_private_key(keys[-1].read_bytes(), password=None)
    me = http.get("/api/v1/me", headers=auth(alice)).json()
    return Forge(keys[-1].stem, private, ISSUER, AUDIENCE, me["id"], extra={"tid": me["tenant_id"], "role": me["role"], "sep": 0})


def test_the_forge_makes_tokens_the_gateway_accepts(http, forge):
    reply = http.get("/api/v1/me", headers={"Authorization": f"Bearer {forge.valid()}"})
    assert reply.status_code == 200 and reply.json()["id"] == forge.subject


@pytest.mark.parametrize("case", JWT_CASES)
def test_every_mutated_token_is_refused_over_http(http, forge, case):
    headers = {"Authorization": f"Bearer {JWT_CASES[case](forge)}"}
    for path in ("/api/v1/me", "/v1/models", "/api/v1/admin/users"):
        assert_unauthenticated(http.get(path, headers=headers))


def test_an_api_key_works_until_its_expiry_then_is_refused(http, alice):
    expires = datetime.now(UTC) + timedelta(seconds=5)
    created = http.post("/api/v1/admin/api-keys", headers=auth(alice),
                        json={"name": "one-off job", "scopes": ["chat"], "expires_at": expires.isoformat()})
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    assert datetime.fromisoformat(created.json()["expires_at"]) == expires
    assert http.get("/v1/models", headers=key).status_code == 200
    assert http.get("/api/v1/me", headers=key).json()["api_key_id"] == created.json()["id"]
    deadline = time.monotonic() + 60
    while (reply := http.get("/v1/models", headers=key)).status_code == 200:
        assert time.monotonic() < deadline, "the key still works long after its expiry"
        time.sleep(0.1)
    assert time.time() >= expires.timestamp()  # not refused before its time
    assert_unauthenticated(reply)
    assert_unauthenticated(http.get("/api/v1/me", headers=key))
    # An expiry must be a real moment in the future, given one way.
    for body in ({"expires_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()},
                 {"expires_at": "2030-01-01T00:00:00"},  # no UTC offset: ambiguous
                 {"expires_at": (datetime.now(UTC) + timedelta(days=3651)).isoformat()},
                 {"expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(), "expires_in_days": 1}):
        bad = http.post("/api/v1/admin/api-keys", headers=auth(alice), json={"name": "x", "scopes": ["chat"], **body})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR", (body, bad.text)


def test_open_sign_ups_get_organisations_of_their_own_and_never_read_each_others_shared_documents(http):
    first, second = register_and_login(http), register_and_login(http)
    me_first, me_second = (http.get("/api/v1/me", headers=auth(u)).json() for u in (first, second))
    assert me_first["tenant_id"] != me_second["tenant_id"]
    assert "default" not in (me_first["tenant_id"], me_second["tenant_id"])
    assert me_first["role"] == me_second["role"] == "admin"  # each administers their own
    # Naming an existing organisation creates another one; it never joins it.
    named = http.post("/api/v1/auth/register", json={"email": f"named-{uuid.uuid4().hex[:8]}@example.com",
                                                     "password": "correct horse battery", "organization": me_first["tenant_id"]})
    assert named.status_code == 201 and named.json()["tenant_id"] not in (me_first["tenant_id"], me_second["tenant_id"])

    text = b"# Ledger\n\nThe quartermaster's ledger lists forty-two brass lanterns in the east depot."
    shared = upload(http, first, "ledger.md", text, visibility="tenant").json()["documents"][0]["id"]
    assert wait_for_document(http, first, shared)["status"] == "indexed"
    # The other sign-up sees nothing of it, by id, in lists or in search.
    assert http.get(f"/api/v1/documents/{shared}", headers=auth(second)).status_code == 404
    assert shared not in {d["id"] for d in http.get("/api/v1/documents", headers=auth(second)).json()["documents"]}
    hits = http.post("/api/v1/search", headers=auth(second), json={"query": "quartermaster ledger brass lanterns"}).json()["hits"]
    assert shared not in {h["chunk"]["document_id"] for h in hits}
    # A colleague the admin added does: sharing within an organisation still works.
    colleague = add_colleague(http, first)
    assert http.get(f"/api/v1/documents/{shared}", headers=auth(colleague)).status_code == 200


def test_uploads_and_deletions_are_in_the_audit_log(http, alice, bob):
    files = [("files", ("alpha.md", b"# Alpha\n\nAlpha notes about the audit test.")),
             ("files", ("beta.md", b"# Beta\n\nBeta notes about the audit test."))]
    reply = http.post("/api/v1/documents", headers=auth(alice), files=files, data={"visibility": "tenant"})
    assert reply.status_code == 202, reply.text
    alpha, beta = (d["id"] for d in reply.json()["documents"])
    me = http.get("/api/v1/me", headers=auth(alice)).json()

    def entries(**params) -> list[dict]:
        answer = http.get("/api/v1/admin/audit", headers=auth(alice), params={"limit": 500, **params})
        assert answer.status_code == 200, answer.text
        return answer.json()["events"]

    uploads = {e["target_id"]: e for e in entries(action="document.upload")}
    assert set(uploads) == {alpha, beta}
    assert all(e["actor_id"] == me["id"] and e["outcome"] == "success" and e["details"]["visibility"] == "tenant"
               and e["details"]["files_in_upload"] == 2 for e in uploads.values())
    assert "alpha.md" not in str(uploads)  # ids only: a file name can be personal data
    # A colleague may read the shared document but not delete it: refused, and audited.
    assert http.delete(f"/api/v1/documents/{alpha}", headers=auth(bob)).status_code == 403
    assert http.delete(f"/api/v1/documents/doc_{'0' * 32}", headers=auth(bob)).status_code == 404
    assert http.delete(f"/api/v1/documents/{alpha}", headers=auth(alice)).status_code == 204
    deletions = entries(action="document.delete")
    assert [(e["target_id"], e["outcome"], e["details"].get("reason")) for e in deletions] == [
        (alpha, "success", None), (f"doc_{'0' * 32}", "failure", "NOT_FOUND"), (alpha, "failure", "PERMISSION_DENIED"),
    ]  # newest first
    assert deletions[0]["actor_id"] == me["id"] and {e["actor_id"] for e in deletions[1:]} != {me["id"]}
