"""An agent run stopped the way a person stops it: the stream read over HTTP, Stop pressed
(POST /api/v1/chat/stream/{message_id}/stop) while the run's third model step is in flight.
The stream ends with the stop; the answer is stored with what was streamed, marked cancelled,
with the steps that ran; the usage report books the tokens the provider billed for the model
steps that ran (the step cut short was never billed: it had written nothing), and the
organisation's token budget is charged at least as much. Nobody else can stop it: to them the
run does not exist, and it goes on."""

from __future__ import annotations

import json
import time

import pytest

from e2e_support import auth, numbered_events, register_and_login

pytestmark = pytest.mark.e2e

FAKE = "fake:fake-model"
STEP_1, STEP_2 = "First I add the crates. ", "Now I double the sum. "


def test_a_person_stops_an_agent_run_mid_step_and_pays_for_the_steps_that_ran(fleet, http, alice, bob):
    fleet.upstream.control(reset=True)
    try:
        _stop_a_run(fleet, http, alice, bob)
    finally:  # the session's upstream: later tests must not get this script, its pace or a hang
        fleet.upstream.control(reset=True)


def _stop_a_run(fleet, http, alice, bob) -> None:
    stranger = register_and_login(http)  # another organisation
    # Each model step writes a sentence, slowly, then calls the calculator; the step's sentence
    # follows from the observations it was sent (the first rule matching the request wins).
    fleet.upstream.control(
        gap_ms=120, script_piece=3, script="(unused)",
        answers=[{"match": r"\A(?!.*3960)(?=.*1980)", "text": STEP_2}, {"match": r"\A(?!.*1980)", "text": STEP_1}],
        tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "1250 + 730"})}],
                    [{"name": "calculator", "arguments": json.dumps({"expression": "1980 * 2"})}],
                    [{"name": "calculator", "arguments": json.dumps({"expression": "3960 + 1"})}]])
    before = fleet.upstream.stats()
    # Alice runs an organisation of her own, with a daily token budget. The completion allowance is
    # small, so the turn's estimate (what it was charged before steps reported their use) is far
    # under what the steps use.
    reply = http.patch("/api/v1/admin/tenant", headers=auth(alice), json={"daily_token_budget": 1_000_000})
    assert reply.status_code == 200, reply.text
    body = {"message": "How many crates are there, doubled?", "model": FAKE, "tools": ["calculator"], "use_rag": False,
            "max_tokens": 16}
    seen: list[tuple[str, dict]] = []
    others: list[int] = []
    hung = False
    with http.stream("POST", "/api/v1/chat/stream", headers=auth(alice), json=body) as reply:
        assert reply.status_code == 200, reply.read()
        message_id, conversation_id = reply.headers["x-message-id"], reply.headers["x-conversation-id"]
        for _, name, data in numbered_events(reply.iter_lines()):
            seen.append((name, data))
            results = sum(1 for n, _ in seen if n == "tool_result")
            if name == "tool_result" and results == 1:
                # A colleague and a stranger press Stop on Alice's run: it does not exist for them.
                for other in (bob, stranger):
                    refused = http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(other))
                    others.append(refused.status_code)
                    assert refused.json()["error"]["code"] == "NOT_FOUND", refused.text
            if name == "token" and results == 1 and not hung:
                # The second step is streaming (its request was made): the third step's request
                # will get no answer at all, a model step as slow as it gets, until it is stopped.
                assert fleet.upstream.stats()["requests"] - before["requests"] == 2
                fleet.upstream.control(hang_next=1)
                hung = True
            if name == "tool_result" and results == 2:
                # Stop once the third model step is in flight (its request reached the provider).
                deadline = time.monotonic() + 30
                while fleet.upstream.stats()["requests"] - before["requests"] < 3:
                    assert time.monotonic() < deadline, "the run did not ask the model a third time"
                    time.sleep(0.02)
                stop = http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(alice))
                assert stop.status_code == 202, stop.text
                assert stop.json() == {"message_id": message_id, "stopping": True}
    assert others == [404, 404]

    names = [n for n, _ in seen if n != "token"]
    # The stream ends cleanly with the stop: no completion, no error; the others' stops did nothing.
    assert names[0] == "start" and names[-1] == "stopped", names
    assert "complete" not in names and "error" not in names, names
    assert seen[-1][1] == {"message_id": message_id}
    assert [d["status"] for n, d in seen if n == "tool_result"] == ["ok", "ok"]
    first, second = [d["summary"] for n, d in seen if n == "tool_result"]
    assert "1980" in first and "3960" in second, (first, second)
    streamed = "".join(d["token"] for n, d in seen if n == "token")
    # Both steps' text came, but for a tail the leak guard may hold (it could begin a quotation
    # of the prompt, its canary being random) until the next text shows it is none: the third
    # step wrote none before the stop.
    assert (STEP_1 + STEP_2).startswith(streamed) and len(streamed) > len(STEP_1) + len(STEP_2) // 2, streamed
    again = http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(alice))
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"

    # The provider request in flight was closed: the stop reached the model step.
    deadline = time.monotonic() + 30
    while fleet.upstream.stats()["disconnects"] == before["disconnects"]:
        assert time.monotonic() < deadline, "the third model step outlived the stop"
        time.sleep(0.05)
    billed = fleet.upstream.stats()["billed"]
    assert billed["answers"] == 2, billed  # the two steps that ran; the one stopped wrote nothing

    # The answer is stored as streamed, marked cancelled, with the steps that ran.
    deadline = time.monotonic() + 60
    answer = None
    while time.monotonic() < deadline:
        messages = http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(alice)).json()["messages"]
        answer = next((m for m in messages if m["role"] == "assistant"), None)
        if answer:
            break
        time.sleep(0.1)
    assert answer is not None, "the stopped run's answer was stored"
    assert answer["id"] == message_id and answer["finish_reason"] == "cancelled", answer
    assert answer["content"] == streamed
    models = [s for s in answer["steps"] if s["type"] == "model"]
    assert [(s["step"], s["provider"], s["model"]) for s in models] == [(1, "fake", "fake-model"), (2, "fake", "fake-model")], \
        answer["steps"]
    assert sum(s["prompt_tokens"] for s in models) == billed["prompt_tokens"]
    assert sum(s["completion_tokens"] for s in models) == billed["completion_tokens"]
    assert answer["tokens_used"]["prompt"] == billed["prompt_tokens"] > 0
    assert answer["tokens_used"]["completion"] == billed["completion_tokens"] > 0

    # The usage report books the run as the provider billed it: neither free nor counted twice.
    totals = http.get("/api/v1/usage", headers=auth(alice)).json()["totals"]
    assert (totals["turns"], totals["prompt_tokens"], totals["completion_tokens"]) == (
        1, billed["prompt_tokens"], billed["completion_tokens"]), totals
    assert http.get("/api/v1/usage", headers=auth(bob)).json()["totals"]["turns"] == 0
    # The organisation's daily budget is charged at least that: the gateway settles the turn from
    # the steps' running totals (ChatEvent spent) when the stream ends. Before, a run stopped
    # before its answer's first token was charged nothing (then, at most its estimate).
    booked = billed["prompt_tokens"] + billed["completion_tokens"]
    deadline = time.monotonic() + 30
    while (used := http.get("/api/v1/admin/usage", headers=auth(alice)).json()["budgets"]["tenant daily token budget"]["used"]) < booked:
        assert time.monotonic() < deadline, (used, booked)
        time.sleep(0.1)

    # The tool calls that ran are stored with the steps, each after the model step that asked for
    # it, with what the stream showed of it (a call may have acted on the world).
    assert [(s["type"], s["step"], s.get("name"), s.get("status")) for s in answer["steps"]] == [
        ("model", 1, None, None), ("tool", 1, "calculator", "ok"), ("model", 2, None, None), ("tool", 2, "calculator", "ok")], answer["steps"]
    shown_calls = [d for n, d in seen if n == "tool_call"]
    stored_calls = [s for s in answer["steps"] if s["type"] == "tool"]
    assert [(s["call_id"], s["arguments"]) for s in stored_calls] == [(d["call_id"], d["arguments"]) for d in shown_calls]
