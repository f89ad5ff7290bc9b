"""Limits over HTTP: request rates exact across two gateway replicas on the real Redis, the
rate headers, client addresses and trusted proxies, store outages, concurrent streams and token
budgets reconciled with real usage."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from e2e_support import auth, events, start_gateways

pytestmark = pytest.mark.e2e
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "correct horse battery"


def new_user(url: str) -> tuple[str, dict[str, str]]:
    email = f"limits-{uuid.uuid4().hex[:12]}@example.com"
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
        token = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
    return email, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def gateways(tmp_path, request):
    env = dict(getattr(request, "param", {}))
    count = int(env.pop("_count", 1))
    procs, urls = start_gateways(tmp_path, {"GATEWAY_RATE_LIMIT_ANONYMOUS_REQUESTS": "0", **env}, count=count)
    yield urls
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(15)


LIMIT = 10


@pytest.mark.parametrize("gateways", [{"GATEWAY_LIMITS_REDIS_URL": REDIS_URL, "GATEWAY_RATE_LIMIT_REQUESTS": str(LIMIT),
                                        "GATEWAY_RATE_LIMIT_WINDOW": "60", "_count": 2}], indirect=True)
def test_rate_limit_is_exact_across_two_gateways_sharing_redis(gateways):
    assert len(gateways) == 2

    async def burst(headers) -> list[httpx.Response]:
        clients = [httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=3 * LIMIT)) for url in gateways]
        try:
            go, parked = asyncio.Event(), asyncio.Semaphore(0)

            async def one(i: int) -> httpx.Response:
                parked.release()
                await go.wait()
                return await clients[i % 2].get("/api/v1/me", headers=headers)

            tasks = [asyncio.create_task(one(i)) for i in range(3 * LIMIT)]
            for _ in tasks:
                await parked.acquire()
            go.set()  # every request waits at the line: released together
            return await asyncio.gather(*tasks)
        finally:
            for client in clients:
                await client.aclose()

    accepted_by: set[str] = set()
    for _ in range(20):
        _, headers = new_user(gateways[0])
        replies = asyncio.run(burst(headers))
        codes = [r.status_code for r in replies]
        assert codes.count(200) == LIMIT and codes.count(429) == 2 * LIMIT, codes
        for reply in replies:
            assert reply.headers["x-ratelimit-limit"] == str(LIMIT)
            if reply.status_code == 429:
                assert reply.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
                assert int(reply.headers["retry-after"]) >= 1 and reply.headers["x-ratelimit-remaining"] == "0"
        accepted_by |= {str(r.url).split("/api")[0] for r in replies if r.status_code == 200}
    # both replicas accepted requests over the rounds: one allowance shared, not one per replica
    assert accepted_by == set(gateways)


@pytest.mark.parametrize("gateways", [{"GATEWAY_RATE_LIMIT_REQUESTS": "5", "GATEWAY_RATE_LIMIT_WINDOW": "60"}], indirect=True)
def test_rate_headers_count_down_in_process(gateways):
    _, headers = new_user(gateways[0])
    with httpx.Client(base_url=gateways[0], timeout=30) as http:
        remaining = [int(http.get("/api/v1/me", headers=headers).headers["x-ratelimit-remaining"]) for _ in range(5)]
        assert remaining == [4, 3, 2, 1, 0]
        refused = http.get("/api/v1/me", headers=headers)
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 12
        assert 0 < int(refused.headers["x-ratelimit-reset"]) <= 60
        # another user has an allowance of their own
        _, other = new_user(gateways[0])
        assert http.get("/api/v1/me", headers=other).status_code == 200


@pytest.mark.parametrize("trusted", [False, True])
def test_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(tmp_path, trusted):
    env = {"GATEWAY_RATE_LIMIT_ANONYMOUS_REQUESTS": "3", "GATEWAY_RATE_LIMIT_WINDOW": "60"}
    if trusted:
        env["GATEWAY_TRUSTED_PROXIES"] = '["127.0.0.1"]'
    procs, (url,) = start_gateways(tmp_path, env)
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            codes = [http.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "wrong password"},
                               headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(6)]
    finally:
        procs[0].terminate()
        procs[0].wait(15)
    if trusted:  # six different clients behind the proxy: each has its own allowance
        assert codes == [401] * 6
    else:  # one client pretending to be six: the header is ignored
        assert codes == [401, 401, 401, 429, 429, 429]


@pytest.mark.parametrize("gateways", [{"GATEWAY_LIMITS_REDIS_URL": "redis://127.0.0.1:1/0", "GATEWAY_LIMITS_REDIS_TIMEOUT_SECONDS": "0.2",
                                        "GATEWAY_TENANT_DAILY_TOKEN_BUDGET": "100000"}], indirect=True)
def test_store_outage_fails_open_for_request_rates_and_closed_for_budgets(gateways):
    _, headers = new_user(gateways[0])
    with httpx.Client(base_url=gateways[0], timeout=30) as http:
        assert http.get("/api/v1/me", headers=headers).status_code == 200  # requests: open
        refused = http.post("/api/v1/chat", headers=headers, json={"message": "hello"})  # budgets: closed
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        metrics = http.get("/api/v1/metrics").text
    assert 'ratelimit_store_errors_total{check="requests",decision="allowed"}' in metrics
    assert 'ratelimit_store_errors_total{check="tokens",decision="refused"}' in metrics


def test_concurrent_streams_are_limited_per_user(http, fleet, alice, bob):
    """The e2e fleet allows 2 open streams per user (conftest)."""
    fleet.upstream.control(gap_ms=150)
    body = {"message": "count slowly", "model": "fake:fake-model", "use_rag": False}
    try:
        with http.stream("POST", "/api/v1/chat/stream", headers=auth(alice), json=body) as one, \
                http.stream("POST", "/api/v1/chat/stream", headers=auth(alice), json=body) as two:
            assert one.status_code == two.status_code == 200
            third = http.post("/api/v1/chat/stream", headers=auth(alice), json=body)
            assert third.status_code == 429 and third.json()["error"]["details"]["limit"] == 2
            # another user is not affected
            assert http.post("/api/v1/chat", headers=auth(bob), json={**body, "max_tokens": 1}).status_code == 200
            for reply in (one, two):
                assert [name for name, _ in events(reply.iter_lines())][-1] == "complete"
    finally:
        fleet.upstream.control(gap_ms=2.0)
    # both streams ended: their slots are free again
    assert http.post("/api/v1/chat/stream", headers=auth(alice), json={**body, "max_tokens": 2}).status_code == 200


def test_token_budgets_refuse_before_the_call_and_reconcile_with_real_usage(http, fleet):
    tag = uuid.uuid4().hex[:8]
    email = f"budget-{tag}@example.com"
    assert http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "organization": f"B {tag}"}).status_code == 201
    admin = {"Authorization": "Bearer " + http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]}
    assert http.patch("/api/v1/admin/tenant", headers=admin, json={"daily_token_budget": 600}).status_code == 200
    body = {"message": "hello there", "model": "fake:fake-model", "use_rag": False, "max_tokens": 8}
    first = http.post("/api/v1/chat", headers=admin, json=body)
    assert first.status_code == 200, first.text
    spent = first.json()["tokens_used"]["total"]
    usage = http.get("/api/v1/me/usage", headers=admin).json()["limits"]
    # The reservation (estimate) was replaced by what the provider reported.
    assert usage["tenant daily token budget"] == {"used": spent, "limit": 600}
    assert usage["user tokens per minute"]["used"] == spent
    # A request whose up-front estimate does not fit is refused before any call.
    calls_before = fleet.upstream.stats()["requests"]
    refused = http.post("/api/v1/chat", headers=admin, json={**body, "max_tokens": 600})
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["details"]["limit_name"] == "tenant daily token budget" and int(refused.headers["retry-after"]) >= 1
    assert fleet.upstream.stats()["requests"] == calls_before
    assert http.get("/api/v1/me/usage", headers=admin).json()["limits"]["tenant daily token budget"]["used"] == spent
