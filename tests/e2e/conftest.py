"""The whole fleet as real processes on free ports, once on SQLite and once on the real
PostgreSQL on 127.0.0.1:5432."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from e2e_support import NO_RATE_LIMITS, add_colleague, register_and_login
from fake_openai_upstream import start_upstream
from fleet import Fleet, Ports

PG_ADMIN_URL = os.environ.get("E2E_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_database() -> tuple[str, callable]:
    import psycopg

    name = f"chatbot_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


@pytest.fixture(scope="session")
def session_upstream():
    """An OpenAI-compatible fake provider the fleet knows as `fake:fake-model` (the embedded
    model stays the default)."""
    upstream = start_upstream(tokens=8, gap_ms=2.0)
    yield upstream
    upstream.process.terminate()
    upstream.process.wait(10)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def fleet(request, tmp_path_factory, session_upstream) -> Iterator[Fleet]:
    var_dir = tmp_path_factory.mktemp(f"fleet-{request.param}")
    # A short heartbeat so that the wait for the first token is long enough to see one.
    env = {"GATEWAY_LOG_LEVEL": "info", "LLM_LOCAL_N_CTX": "2048", "GATEWAY_HEARTBEAT_SECONDS": "0.02",
           "GATEWAY_MAX_UPLOAD_BYTES": "1000000", "GATEWAY_INGEST_DIR": str(var_dir / "ingest"),
           "GATEWAY_UPLOAD_EVENT_SECRET": "e2e-" + uuid.uuid4().hex, "GATEWAY_UPLOAD_EVENT_OWNER_EMAIL": "ingest-bot@example.com",
           "LLM_OPENAI_COMPATIBLE": json.dumps([{"name": "fake", "base_url": session_upstream.base_url, "models": ["fake-model"]}]),
           "LLM_MODEL_ALIASES": json.dumps({"default": ["local:smollm2-135m-instruct"]}),
           # These tests script the upstream per test: a cached answer would stand in for the scripted
           # one. The semantic cache has its own tests (test_cost.py).
           "LLM_CACHE_ENABLED": "false",
           # Online evaluation's judge: the scripted upstream (test_evaluation.py), through the orchestrator.
           "INGEST_EVALUATION_JUDGE_PROVIDER": "fake", "INGEST_EVALUATION_JUDGE_MODEL": "fake-model",
           # Every test signs up from 127.0.0.1; the limits have their own tests (test_limits.py).
           **NO_RATE_LIMITS,
           "GATEWAY_MAX_CONCURRENT_STREAMS": "2",
           # The agent tests' sensitive tool: http_fetch, here allowed to the loopback fake upstream.
           "LLM_TOOLS_HTTP_ALLOWED_HOSTS": '["127.0.0.1"]', "LLM_TOOLS_HTTP_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
           # The tests' MCP servers listen on loopback, which MCP server URLs may not reach otherwise.
           "LLM_MCP_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
           # Titles stay the first message's (tests look conversations up by it), and the embedded
           # model is not kept busy naming them; test_memory.py runs a fleet with titles on.
           "CONVERSATION_AUTO_TITLES": "false",
           # Spans as JSON lines per service (what an OTLP collector would receive, scrubbed alike).
           **{f"{prefix}_TRACES_FILE": str(var_dir / "traces" / f"{prefix.lower()}.jsonl")
              for prefix in ("GATEWAY", "CONVERSATION", "LLM", "RAG", "INGEST")}}
    drop = None
    if request.param == "postgres":
        url, drop = _postgres_database()
        env.update({"GATEWAY_DATABASE_URL": url, "CONVERSATION_DATABASE_URL": url, "RAG_DATABASE_URL": url, "LLM_DATABASE_URL": url,
                    # Answers in flight in the real Redis, so that gateway replicas share them.
                    "GATEWAY_ANSWER_BUFFER_REDIS_URL": os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/0")})
    fleet = Fleet(var_dir, Ports.free(), env, log_dir=var_dir / "logs")
    try:
        fleet.start(timeout=120)
        fleet.backend = request.param
        fleet.upstream = session_upstream
        yield fleet
    finally:
        codes = fleet.stop()
        if drop:
            drop()
    # SIGTERM must end every service cleanly (no crash, no kill after the grace period).
    grpc_services = {name: code for name, code in codes.items() if not name.startswith("gateway")}
    assert set(grpc_services.values()) == {0}, codes
    # uvicorn re-raises the signal it handled once its graceful shutdown is done (every replica)
    assert {code for name, code in codes.items() if name.startswith("gateway")} <= {0, -15}, codes
    assert "Application shutdown complete" in (fleet.log_dir / "gateway.log").read_text()


@pytest.fixture(scope="session")
def http(fleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.url, timeout=120) as client:
        yield client


@pytest.fixture
def alice(http) -> dict[str, str]:
    """Signed up on her own: the admin of an organisation of her own."""
    return register_and_login(http)


@pytest.fixture
def bob(http, alice) -> dict[str, str]:
    """Alice's colleague: a member she added to her organisation."""
    return add_colleague(http, alice)


