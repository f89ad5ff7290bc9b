"""Helpers the e2e tests share: accounts, auth headers, an SSE reader, answers in flight."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


# Request-rate limits off. A test's sign-ups and status polling all come from one address and
# one user, as fast as the machine allows, so the default allowance (100 requests a minute per
# user) runs out on a slow machine; a test that relies on limits sets them (test_limits.py).
NO_RATE_LIMITS = {"GATEWAY_RATE_LIMIT_ANONYMOUS_REQUESTS": "0", "GATEWAY_RATE_LIMIT_REQUESTS": "0",
                  "GATEWAY_RATE_LIMIT_KEY_REQUESTS": "0"}


def register_and_login(http: httpx.Client) -> dict[str, str]:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    reply = http.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery"})
    assert reply.status_code == 201, reply.text
    tokens = http.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}", "_refresh": tokens["refresh_token"], "_email": email}


def add_colleague(http: httpx.Client, admin: dict[str, str], role: str = "member") -> dict[str, str]:
    """Someone the admin adds to the admin's organisation (the only way into an existing one:
    open sign-up gives each person an organisation of their own)."""
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    reply = http.post("/api/v1/admin/users", headers=auth(admin), json={"email": email, "password": "correct horse battery", "role": role})
    assert reply.status_code == 201, reply.text
    tokens = http.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}", "_refresh": tokens["refresh_token"], "_email": email}


def register_org_admin(http: httpx.Client, prefix: str = "org") -> str:
    """Signs up the admin of a new organisation; returns a session access token."""
    tag = uuid.uuid4().hex[:8]
    email = f"{prefix}-{tag}@example.com"
    reply = http.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery", "organization": f"{prefix} {tag}"})
    assert reply.status_code == 201, reply.text
    return http.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).json()["access_token"]


def every_scope_key(http: httpx.Client, token: str, name: str) -> str:
    """An API key of the token's account with every scope."""
    key = http.post("/api/v1/admin/api-keys", headers={"Authorization": f"Bearer {token}"},
                    json={"name": name, "scopes": ["chat", "documents:read", "documents:write", "admin"]})
    assert key.status_code == 201, key.text
    return key.json()["key"]


def auth(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": user["Authorization"]}


def events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    for _, name, data in numbered_events(lines):
        yield name, data


def numbered_events(lines: Iterator[str]) -> Iterator[tuple[int | None, str, dict]]:
    """SSE events as (id, name, data); id None for an event without one."""
    event_id, name, data = None, "message", []
    for line in lines:
        if line == "":
            if data:
                yield event_id, name, json.loads("\n".join(data))
            event_id, name, data = None, "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("id:"):
            event_id = int(line[3:].strip())
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def wait_for_document(http: httpx.Client, user: dict[str, str], document_id: str, timeout: float = 120) -> dict:
    """Polls a document until ingestion ends (indexed or failed)."""
    import time

    deadline = time.monotonic() + timeout
    doc: dict = {}
    while time.monotonic() < deadline:
        reply = http.get(f"/api/v1/documents/{document_id}", headers=auth(user))
        assert reply.status_code == 200, reply.text
        doc = reply.json()
        if doc["status"] in ("indexed", "failed"):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"document still {doc.get('status')} after {timeout}s")


def upload(http: httpx.Client, user: dict[str, str], name: str, data: bytes, **form: str) -> httpx.Response:
    return http.post("/api/v1/documents", headers=auth(user), files=[("files", (name, data))], data=form)


def stream_chat(http: httpx.Client, user: dict[str, str], body: dict) -> list[tuple[str, dict]]:
    with http.stream("POST", "/api/v1/chat/stream", headers=auth(user), json=body) as reply:
        assert reply.status_code == 200, reply.read()
        return list(events(reply.iter_lines()))


def start_gateways(var_dir, env: dict[str, str], count: int = 1):
    """Gateway processes alone (no downstream services), sharing one database, signing-key
    directory and `env`: for what the gateway decides by itself (auth, limits). Returns
    (processes, base URLs); the caller terminates the processes."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from fleet import ROOT, free_port

    base = {**os.environ, "GATEWAY_VAR_DIR": str(var_dir), "GATEWAY_LOG_LEVEL": "warning", **env}
    subprocess.run([sys.executable, "-m", "gateway", "migrate"], env=base, check=True, cwd=ROOT)
    procs, urls = [], []
    for _ in range(count):
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "gateway"], env={**base, "GATEWAY_PORT": str(port)}, cwd=ROOT))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    for url in urls:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    for proc in procs:
                        proc.kill()
                    raise
                time.sleep(0.1)
    return procs, urls


# --- answers in flight (resumable streams) ---------------------------------------------------

WORDS = [f"w{i}" for i in range(60)]
SCRIPT = " ".join(WORDS)


@contextmanager
def slow_answer(fleet, script: str = SCRIPT) -> Iterator[None]:
    """The fake provider streams the script in 4-character pieces 25 ms apart (SCRIPT: about a
    second and a half): long enough for a client to leave and come back mid-answer."""
    fleet.upstream.control(script=script, script_piece=4, gap_ms=25)
    try:
        yield
    finally:
        fleet.upstream.control(script="", script_piece=3, gap_ms=2.0)


def start_and_leave(http: httpx.Client, user: dict, tokens: int) -> tuple[str, str, list[tuple[int, str, dict]]]:
    """Starts a streamed answer, reads `tokens` token events, and drops the connection: the
    message id, the conversation id and the events read."""
    seen = []
    body = {"message": "Recite the words.", "model": "fake:fake-model", "use_rag": False}
    with http.stream("POST", "/api/v1/chat/stream", json=body, headers=auth(user)) as reply:
        assert reply.status_code == 200, reply.read()
        for event in numbered_events(reply.iter_lines()):
            seen.append(event)
            if sum(1 for _, name, _ in seen if name == "token") == tokens:
                break
    return reply.headers["x-message-id"], reply.headers["x-conversation-id"], seen


def stored_answer(http: httpx.Client, user: dict, conversation_id: str) -> dict:
    messages = http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(user)).json()["messages"]
    return messages[-1]


