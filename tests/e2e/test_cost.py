"""Cost control over the whole fleet (real processes, the fake OpenAI-compatible upstream, the
real Redis for the semantic cache): usage and cost reports match the tokens the upstream billed
exactly, chat turns and /v1 alike; a question asked again (or in other words) by the same person
is answered from the cache without an upstream call and marked cached, a colleague's never;
regenerate and edit ask the model again; `auto` routes with its reason, and a person near their
token budget is routed to the cheaper model; a tenant admin turns the cache off and on for the
organisation; erasure removes the user's cache entries."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from decimal import Decimal

import httpx
import pytest
from websockets.sync.client import connect

from e2e_support import NO_RATE_LIMITS, add_colleague, auth, events, register_and_login
from fake_openai_upstream import start_upstream
from fleet import Fleet, Ports

pytestmark = pytest.mark.e2e

PRICE_IN, PRICE_OUT = Decimal("1.10"), Decimal("4.40")  # USD per million tokens
MODEL = "fake:fake-model"
LARGE = "fake:fake-large"  # the dearer model a routing alias picks while the budget allows
EMBED, EMBED_PRICE = "fake:text-embed", Decimal("0.02")  # the upstream's embeddings API


@pytest.fixture(scope="module")
def cost_fleet(tmp_path_factory):
    upstream = start_upstream(tokens=6, gap_ms=1.0)
    var_dir = tmp_path_factory.mktemp("fleet-cost")
    env = {
        "LLM_OPENAI_COMPATIBLE": json.dumps([{"name": "fake", "base_url": upstream.base_url, "models": ["fake-model", "fake-large"]}]),
        "LLM_MODEL_ALIASES": json.dumps({"default": [MODEL]}),
        "LLM_PRICES": json.dumps({MODEL: {"input": str(PRICE_IN), "output": str(PRICE_OUT)}, LARGE: {"input": "5", "output": "20"},
                                  EMBED: {"input": str(EMBED_PRICE), "output": "0"}}),
        "LLM_ROUTES": json.dumps({"auto": {"tiers": {"economy": MODEL, "premium": "default"}, "default_tier": "economy",
                                           "rules": [{"tier": "premium", "code": True}]},
                                  "thrifty": {"tiers": {"economy": MODEL, "premium": LARGE}, "default_tier": "premium",
                                              "rules": [{"tier": "economy", "budget_left_below": 0.1}]}}),
        "LLM_CACHE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "LLM_LOCAL_ENABLED": "false",
        **NO_RATE_LIMITS,
    }
    fleet = Fleet(var_dir, Ports.free(), env, log_dir=var_dir / "logs")
    try:
        fleet.start(timeout=180)
        fleet.upstream = upstream
        yield fleet
    finally:
        fleet.stop()
        upstream.process.terminate()
        upstream.process.wait(10)


@pytest.fixture(scope="module")
def http(cost_fleet):
    with httpx.Client(base_url=cost_fleet.url, timeout=120) as client:
        yield client


def chat(http, user, message: str, **extra) -> dict:
    with http.stream("POST", "/api/v1/chat/stream", headers=auth(user), json={"message": message, "use_rag": False, **extra}) as r:
        assert r.status_code == 200, r.read()
        found = dict(events(r.iter_lines()))
    assert "error" not in found, found
    return found["complete"]


def price(prompt: int, completion: int) -> Decimal:
    return (prompt * PRICE_IN + completion * PRICE_OUT) / 1_000_000


def test_usage_and_cost_match_the_upstreams_billed_tokens(http, cost_fleet):
    user = register_and_login(http)
    before = cost_fleet.upstream.stats()["billed"]
    tag = uuid.uuid4().hex[:8]
    completes = [chat(http, user, f"Question {tag} number {i}: list three prime numbers", model=MODEL, cache=False) for i in range(3)]
    v1 = http.post("/v1/chat/completions", headers=auth(user), json={"model": MODEL, "cache": False,
                                                                    "messages": [{"role": "user", "content": f"v1 question {tag}"}]})
    assert v1.status_code == 200, v1.text
    with http.stream("POST", "/v1/chat/completions", headers={**auth(user), "Cache-Control": "no-cache"},
                     json={"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
                           "messages": [{"role": "user", "content": f"streamed v1 question {tag}"}]}) as r:
        streamed = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:") and "[DONE]" not in line]
    after = cost_fleet.upstream.stats()["billed"]
    billed = {k: after[k] - before[k] for k in after}
    assert billed["answers"] == 5

    # Each answer carries its own cost, priced from the tokens the upstream reported.
    for c in completes:
        assert not c["cached"] and Decimal(c["cost"]) == price(c["usage"]["prompt"], c["usage"]["completion"])
    assert Decimal(v1.json()["usage"]["cost"]) == price(v1.json()["usage"]["prompt_tokens"], v1.json()["usage"]["completion_tokens"])
    assert streamed[-1]["usage"]["cost"] is not None

    report = http.get("/api/v1/usage", headers=auth(user)).json()
    totals = report["totals"]
    assert (totals["turns"], totals["prompt_tokens"], totals["completion_tokens"]) == (5, billed["prompt_tokens"], billed["completion_tokens"])
    assert Decimal(totals["cost"]) == price(billed["prompt_tokens"], billed["completion_tokens"])
    assert totals["unpriced_turns"] == 0 and totals["cache_hits"] == 0
    assert [(d["provider"], d["model"]) for d in report["days"]] == [("fake", "fake-model")]

    # The admin's report of the organisation (the user is its admin) says the same, and as CSV.
    admin = http.get("/api/v1/admin/usage", headers=auth(user)).json()
    assert admin["totals"] == totals
    exported = http.get("/api/v1/admin/usage", headers=auth(user), params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["model"], int(r["prompt_tokens"]), Decimal(r["cost_usd"])) for r in rows] == \
        [("fake-model", billed["prompt_tokens"], price(billed["prompt_tokens"], billed["completion_tokens"]))]
    assert http.get("/api/v1/usage", headers=auth(user), params={"format": "xml"}).status_code == 400



def test_provider_embeddings_without_usage_are_counted_and_priced(http, cost_fleet):
    """An embeddings API that reports no usage: the texts count as the byte estimate (UTF-8 bytes
    / 3 + 1 each) against the caller, priced, in the answer and in the ledger, never as free."""
    user = register_and_login(http)
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by 4 percent in the third quarter."]
    cost_fleet.upstream.control(embedding_usage=False)
    try:
        reply = http.post("/v1/embeddings", headers=auth(user), json={"model": EMBED, "input": texts, "encoding_format": "float"})
    finally:
        cost_fleet.upstream.control(embedding_usage=True)
    assert reply.status_code == 200, reply.text
    tokens = sum(len(t.encode()) // 3 + 1 for t in texts)
    usage = reply.json()["usage"]
    assert usage["prompt_tokens"] == usage["total_tokens"] == tokens > 0
    assert Decimal(usage["cost"]) == tokens * EMBED_PRICE / 1_000_000
    report = http.get("/api/v1/usage", headers=auth(user)).json()
    assert [(d["provider"], d["model"], d["kind"]) for d in report["days"]] == [("fake", "text-embed", "embedding")]
    totals = report["totals"]
    assert (totals["prompt_tokens"], totals["completion_tokens"], totals["unpriced_turns"]) == (tokens, 0, 0)
    assert Decimal(totals["cost"]) == tokens * EMBED_PRICE / 1_000_000


def test_a_question_asked_again_is_answered_from_the_cache_and_costs_nothing(http, cost_fleet):
    user = register_and_login(http)
    first = chat(http, user, "What is the capital of France?", model=MODEL)
    assert not first["cached"]
    requests = cost_fleet.upstream.stats()["requests"]
    again = chat(http, user, "What is the capital of France?", model=MODEL)
    paraphrase = chat(http, user, "What's the capital city of France?", model=MODEL)
    assert again["cached"] and paraphrase["cached"]
    assert again["cost"] == "0" and again["usage"]["total"] == 0
    assert cost_fleet.upstream.stats()["requests"] == requests  # no upstream call
    # Near miss, opted out, or with personal data: the model answers.
    assert not chat(http, user, "What is the capital of Spain?", model=MODEL)["cached"]
    assert not chat(http, user, "What is the capital of France?", model=MODEL, cache=False)["cached"]
    assert not chat(http, user, "My email is jane.doe@example.com: what is the capital of France?", model=MODEL)["cached"]
    # Another organisation never gets this one's answers.
    stranger = register_and_login(http)
    assert not chat(http, stranger, "What is the capital of France?", model=MODEL)["cached"]
    # /v1 reuses the scope of its own system prompt (none here), and marks the hit.
    v1 = [http.post("/v1/chat/completions", headers=auth(user),
                    json={"model": MODEL, "messages": [{"role": "user", "content": "How many legs does a spider have?"}]}).json()
          for _ in range(2)]
    assert not v1[0]["usage"]["cached"] and v1[1]["usage"]["cached"]
    assert v1[1]["choices"][0]["message"]["content"] == v1[0]["choices"][0]["message"]["content"]

    totals = http.get("/api/v1/usage", headers=auth(user)).json()["totals"]
    assert totals["cache_hits"] == 3

    # Each person has their own entries: a colleague in the same organisation is never given
    # this user's answer, nor this user the colleague's (the tenant did not opt into sharing).
    colleague = add_colleague(http, user)
    assert not chat(http, colleague, "What is the capital of France?", model=MODEL)["cached"]
    assert not chat(http, colleague, "How many moons does Mars have?", model=MODEL)["cached"]
    assert not chat(http, user, "How many moons does Mars have?", model=MODEL)["cached"]
    assert chat(http, colleague, "How many moons does Mars have?", model=MODEL)["cached"]
    # Erasure removes the user's entries (two: France and Mars), and only theirs.
    erased = http.request("DELETE", "/api/v1/me", headers=auth(colleague), json={"password": "correct horse battery"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["removed"]["llm_orchestrator"]["semantic_cache_entries"] == 2
    assert chat(http, user, "How many moons does Mars have?", model=MODEL)["cached"]


def test_regenerate_and_edit_bypass_the_cache(http, cost_fleet):
    user = register_and_login(http)
    question = f"Name a planet, {uuid.uuid4().hex[:6]}"
    first = chat(http, user, question, model=MODEL)
    assert not first["cached"] and chat(http, user, question, model=MODEL)["cached"]
    requests = cost_fleet.upstream.stats()["requests"]
    # Asked for a new answer: the model is asked again, and the cache neither answers nor keeps it.
    with http.stream("POST", "/api/v1/chat/stream", headers=auth(user),
                     json={"use_rag": False, "model": MODEL, "conversation_id": first["conversation_id"],
                           "regenerate_message_id": first["message_id"]}) as r:
        assert r.status_code == 200, r.read()
        again = dict(events(r.iter_lines()))["complete"]
    assert not again["cached"] and cost_fleet.upstream.stats()["requests"] == requests + 1
    edited = chat(http, user, question, model=MODEL, conversation_id=first["conversation_id"],
                  edit_message_id=_question_of(http, user, first))
    assert not edited["cached"] and cost_fleet.upstream.stats()["requests"] == requests + 2


def _question_of(http, user, complete: dict) -> str:
    reply = http.get(f"/api/v1/conversations/{complete['conversation_id']}/messages", headers=auth(user))
    assert reply.status_code == 200, reply.text
    return next(m["id"] for m in reply.json()["messages"] if m["role"] == "user")


def test_auto_routes_by_its_rules_and_says_why(http):
    user = register_and_login(http)
    plain = chat(http, user, "Name a colour", model="auto", cache=False)
    assert plain["route"]["tier"] == "economy" and plain["route"]["reason"].startswith("default tier")
    code = chat(http, user, "Why does this fail?\n```python\ndef f(x):\n    return x[0]\n```", model="auto", cache=False)
    assert code["route"] == {"alias": "auto", "tier": "premium", "target": "default", "reason": "rule 1: code present"}
    # An explicit model is never rerouted.
    assert chat(http, user, "Name a colour", model=MODEL, cache=False)["route"] is None


def _stored_route(http, user, complete: dict) -> dict | None:
    reply = http.get(f"/api/v1/conversations/{complete['conversation_id']}/messages", headers=auth(user))
    assert reply.status_code == 200, reply.text
    return next(m for m in reply.json()["messages"] if m["id"] == complete["message_id"])["route"]


def _over_a_socket(cost_fleet, user, message: str, **extra) -> dict:
    with connect(cost_fleet.url.replace("http://", "ws://") + "/ws/chat", open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps({"type": "auth", "token": auth(user)["Authorization"].removeprefix("Bearer ")}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        ws.send(json.dumps({"type": "chat", "message": message, "use_rag": False, **extra}))
        while (frame := json.loads(ws.recv(timeout=60))).get("type") == "event" and frame["event"] not in ("complete", "error"):
            pass
    assert frame.get("event") == "complete", frame
    return frame["data"]


def test_a_person_near_their_token_budget_is_routed_to_the_cheaper_model(http, cost_fleet):
    user = register_and_login(http)  # the admin of an organisation of their own
    ask = {"model": "thrifty", "cache": False, "max_tokens": 8}
    roomy = chat(http, user, "Name a colour", **ask)
    assert (roomy["model"], roomy["route"]["tier"]) == ("fake-large", "premium") and roomy["route"]["reason"].startswith("default tier")

    # The organisation's daily budget, then most of it spent: under 10 % is left.
    def set_budget(tokens: int) -> None:
        reply = http.patch("/api/v1/admin/tenant", headers=auth(user), json={"daily_token_budget": tokens})
        assert reply.status_code == 200, reply.text

    set_budget(1_000_000)
    spent = chat(http, user, "word " * 4000, model=MODEL, cache=False, max_tokens=8)["usage"]["total"]

    def used() -> int:
        return http.get("/api/v1/me/usage", headers=auth(user)).json()["limits"]["tenant daily token budget"]["used"]

    deadline = time.monotonic() + 30  # the reservation is settled to the real usage once the answer ends
    while used() != spent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert used() == spent
    set_budget(int(spent / 0.95))  # 5 % left: room for a few short questions

    near = chat(http, user, "Name a colour", **ask)
    assert (near["model"], near["route"]["tier"]) == ("fake-model", "economy"), near
    assert near["route"]["reason"].startswith("rule 1: budget left") and near["route"]["reason"].endswith("< 10%"), near["route"]
    assert _stored_route(http, user, near) == near["route"]
    assert Decimal(near["cost"]) == price(near["usage"]["prompt"], near["usage"]["completion"])  # priced as the cheaper model
    # The same over the WebSocket and on /v1.
    assert _over_a_socket(cost_fleet, user, "Name a colour", **ask)["route"]["tier"] == "economy"
    v1 = http.post("/v1/chat/completions", headers=auth(user),
                   json={"model": "thrifty", "max_tokens": 8, "cache": False, "messages": [{"role": "user", "content": "Name a colour"}]})
    assert v1.status_code == 200, v1.text
    assert (v1.json()["model"], v1.json()["usage"]["route"]["tier"]) == ("fake-model", "economy")

    # Another organisation's budget is its own: its people still get the default tier.
    stranger = register_and_login(http)
    assert chat(http, stranger, "Name a colour", **ask)["route"]["tier"] == "premium"


def test_a_tenant_admin_turns_the_semantic_cache_off_and_on(http, cost_fleet):
    admin = register_and_login(http)
    member = add_colleague(http, admin)
    assert http.get("/api/v1/admin/tenant", headers=auth(admin)).json()["semantic_cache"] is True
    refused = http.patch("/api/v1/admin/tenant", headers=auth(member), json={"semantic_cache": False})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"
    bad = http.patch("/api/v1/admin/tenant", headers=auth(admin), json={"semantic_cache": "sometimes"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"

    off = http.patch("/api/v1/admin/tenant", headers=auth(admin), json={"semantic_cache": False})
    assert off.status_code == 200 and off.json()["semantic_cache"] is False
    tag = uuid.uuid4().hex[:6]
    question, v1_question = f"What is the tallest tree species, {tag}?", f"How deep is the deepest lake, {tag}?"

    def v1(user) -> dict:
        reply = http.post("/v1/chat/completions", headers=auth(user),
                          json={"model": MODEL, "messages": [{"role": "user", "content": v1_question}]})
        assert reply.status_code == 200, reply.text
        return reply.json()["usage"]

    requests = cost_fleet.upstream.stats()["requests"]
    # Off: no answer comes from the cache (REST, WebSocket, /v1), and none is kept in it.
    assert not any(chat(http, member, question, model=MODEL)["cached"] for _ in range(2))
    assert not _over_a_socket(cost_fleet, member, question, model=MODEL)["cached"]
    assert not any(v1(member)["cached"] for _ in range(2))
    assert cost_fleet.upstream.stats()["requests"] == requests + 5
    on = http.patch("/api/v1/admin/tenant", headers=auth(admin), json={"semantic_cache": True})
    assert on.status_code == 200 and on.json()["semantic_cache"] is True
    assert not chat(http, member, question, model=MODEL)["cached"]  # nothing was kept while off
    assert not v1(member)["cached"]
    # On again: answers are kept and reused.
    assert chat(http, member, question, model=MODEL)["cached"] and v1(member)["cached"]

    # Both changes are in the organisation's audit log, newest first, by its admin.
    admin_id = http.get("/api/v1/me", headers=auth(admin)).json()["id"]
    changes = http.get("/api/v1/admin/audit", headers=auth(admin), params={"action": "tenant.policy_change"}).json()["events"]
    assert [(e["actor_id"], e["outcome"], e["details"]) for e in changes] == [
        (admin_id, "success", {"from": {"semantic_cache": False}, "to": {"semantic_cache": True}}),
        (admin_id, "success", {"from": {"semantic_cache": True}, "to": {"semantic_cache": False}})]
