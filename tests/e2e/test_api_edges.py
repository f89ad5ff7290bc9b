"""Bad input gets a clear 4xx in the one error shape; the probes answer."""

from __future__ import annotations

import uuid

import pytest

from e2e_support import auth

pytestmark = pytest.mark.e2e


def assert_error(reply, status, code):
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in reply.text


def test_missing_or_bad_tokens_answer_401_with_www_authenticate(http):
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        reply = http.get("/api/v1/conversations", headers=headers)
        assert_error(reply, 401, "AUTHENTICATION_ERROR")
        assert reply.headers["www-authenticate"].startswith("Bearer")


def test_refresh_rotates_and_reuse_revokes(http, alice):
    refresh = alice["_refresh"]
    first = http.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert first.status_code == 200
    new_refresh = first.json()["refresh_token"]
    assert http.get("/api/v1/conversations", headers={"Authorization": f"Bearer {first.json()['access_token']}"}).status_code == 200
    assert_error(http.post("/api/v1/auth/refresh", json={"refresh_token": refresh}), 401, "AUTHENTICATION_ERROR")
    # the reuse ended the whole family, the newest token included
    assert_error(http.post("/api/v1/auth/refresh", json={"refresh_token": new_refresh}), 401, "AUTHENTICATION_ERROR")


def test_register_conflict_and_bad_login(http, alice):
    assert_error(http.post("/api/v1/auth/register", json={"email": alice["_email"], "password": "another password"}), 409, "CONFLICT")
    assert_error(http.post("/api/v1/auth/login", json={"email": alice["_email"], "password": "wrong password"}), 401, "AUTHENTICATION_ERROR")
    assert_error(http.post("/api/v1/auth/register", json={"email": "not-an-email", "password": "long enough pw"}), 400, "VALIDATION_ERROR")
    assert_error(http.post("/api/v1/auth/register", json={"email": "short@example.com", "password": "short"}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        {"message": ""},
        {"message": "   "},
        {"message": 123},
        {"message": "x" * 32_001},
        {"message": "hi", "temperature": 3},
        {"message": "hi", "temperature": "hot"},
        {"message": "hi", "max_tokens": 0},
        {"message": "hi", "max_tokens": 10**9},
        {"message": "hi", "conversation_id": "../../etc/passwd"},
        {"message": "hi", "unknown_field": 1},
        {},
    ],
)
def test_chat_rejects_bad_bodies(http, alice, body):
    assert_error(http.post("/api/v1/chat", json=body, headers=auth(alice)), 400, "VALIDATION_ERROR")
    assert_error(http.post("/api/v1/chat/stream", json=body, headers=auth(alice)), 400, "VALIDATION_ERROR")


def test_malformed_json_and_non_utf8(http, alice):
    headers = {**auth(alice), "Content-Type": "application/json"}
    assert_error(http.post("/api/v1/chat", content=b'{"message": "hi"', headers=headers), 400, "VALIDATION_ERROR")
    assert_error(http.post("/api/v1/chat", content=b'{"message": "\xff\xfe"}', headers=headers), 400, "VALIDATION_ERROR")
    assert_error(http.post("/api/v1/chat", content=b"[1,2]", headers=headers), 400, "VALIDATION_ERROR")


def test_ids_malformed_and_unknown(http, alice):
    assert_error(http.get("/api/v1/conversations/not-an-id", headers=auth(alice)), 400, "VALIDATION_ERROR")
    unknown = f"conv_{uuid.uuid4().hex}"
    assert_error(http.get(f"/api/v1/conversations/{unknown}", headers=auth(alice)), 404, "NOT_FOUND")
    assert_error(http.post("/api/v1/chat", json={"message": "hi", "conversation_id": unknown}, headers=auth(alice)), 404, "NOT_FOUND")
    assert_error(http.get("/api/v1/conversations", params={"limit": 1000}, headers=auth(alice)), 400, "VALIDATION_ERROR")
    assert_error(http.get("/api/v1/conversations", params={"sort": "name"}, headers=auth(alice)), 400, "VALIDATION_ERROR")


def test_unknown_model_is_a_client_error(http, alice):
    assert_error(http.post("/api/v1/chat", json={"message": "hi", "model": "gpt-9"}, headers=auth(alice)), 400, "VALIDATION_ERROR")


def test_oversized_body_is_413(http, alice):
    assert_error(http.post("/api/v1/chat", content=b"x" * 2_000_000, headers={**auth(alice), "Content-Type": "application/json"}), 413, "PAYLOAD_TOO_LARGE")


def test_oversized_chunked_body_is_413(http, alice):
    def body():
        yield b'{"message": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}'

    reply = http.post("/api/v1/chat", content=body(), headers={**auth(alice), "Content-Type": "application/json"})
    assert_error(reply, 413, "PAYLOAD_TOO_LARGE")


def test_health_ready_metrics_docs(http):
    health = http.get("/api/v1/health").json()
    assert health["status"] == "healthy" and health["version"]
    ready = http.get("/api/v1/ready")
    assert ready.status_code == 200
    assert ready.json()["services"] == {
        "database": "connected", "conversation": "serving", "llm-orchestrator": "serving", "rag": "serving", "ingest-worker": "serving",
    }
    metrics = http.get("/api/v1/metrics").text
    assert "http_requests_total" in metrics
    spec = http.get("/api/v1/openapi.json").json()
    assert "/api/v1/chat/stream" in spec["paths"] and "/v1/chat/completions" in spec["paths"]


def test_tokens_verify_with_the_published_jwks(http, alice):
    import jwt

    keys = http.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all(k["kty"] == "OKP" and k["alg"] == "EdDSA" and "d" not in k for k in keys)
    token = alice["Authorization"].split()[1]
    kid = jwt.get_unverified_header(token)["kid"]
    public = jwt.PyJWK(next(k for k in keys if k["kid"] == kid)).key
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience="chatbot-api")
    assert claims["typ"] == "access" and claims["sub"].startswith("usr_")
