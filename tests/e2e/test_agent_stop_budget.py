"""A member's agent run stopped after two tool steps is charged to the organisation's token
budget for what it used: the gateway settles the turn's reservation from the conversation
service's running totals of the settled steps (ChatEvent spent), so the daily budget's use is at
least what the usage ledger booked for the run. Before, no such total came and a stopped run was
charged at most its estimate, however many steps it took."""

from __future__ import annotations

import json
import time

import pytest

from e2e_support import auth, numbered_events

pytestmark = pytest.mark.e2e

BUDGET = "tenant daily token budget"


def test_a_stopped_runs_steps_count_against_the_daily_token_budget(fleet, http, alice, bob):
    fleet.upstream.control(reset=True)
    try:
        _stop_after_two_steps(fleet, http, alice, bob)
    finally:  # the session's upstream: later tests must not get this script or a hang
        fleet.upstream.control(reset=True)


def _stop_after_two_steps(fleet, http, alice, bob) -> None:
    reply = http.patch("/api/v1/admin/tenant", headers=auth(alice), json={"daily_token_budget": 1_000_000})
    assert reply.status_code == 200, reply.text
    calc = [[{"name": "calculator", "arguments": json.dumps({"expression": f"{n} * 3"})}] for n in (19, 57, 171)]
    fleet.upstream.control(gap_ms=20, script="Working on it. " * 20, tool_turns=calc)
    before = fleet.upstream.stats()
    body = {"message": "What is 19 times 3, three times over?", "model": "fake:fake-model", "tools": ["calculator"],
            "use_rag": False, "max_tokens": 16}
    results = 0
    with http.stream("POST", "/api/v1/chat/stream", headers=auth(bob), json=body) as stream:
        assert stream.status_code == 200, stream.read()
        message_id = stream.headers["x-message-id"]
        hung = False
        for _, name, _ in numbered_events(stream.iter_lines()):
            if name == "token" and results == 1 and not hung:
                # The second step is streaming (its request was made): the third step's request
                # gets no answer at all until the run is stopped.
                assert fleet.upstream.stats()["requests"] - before["requests"] == 2
                fleet.upstream.control(hang_next=1)
                hung = True
            if name == "tool_result":
                results += 1
                if results == 2:
                    _asked(fleet, before["requests"] + 3)  # the third step is in flight
                    stop = http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(bob))
                    assert stop.status_code == 202, stop.text
    assert results == 2
    billed = fleet.upstream.stats()["billed"]
    assert billed["answers"] - before["billed"]["answers"] == 2, billed

    # The ledger books the two steps (the stopped answer is written once the stream ends) ...
    deadline = time.monotonic() + 30
    while True:
        usage = http.get("/api/v1/admin/usage", headers=auth(alice)).json()
        booked = usage["totals"]["prompt_tokens"] + usage["totals"]["completion_tokens"]
        if usage["totals"]["turns"] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert usage["totals"]["turns"] == 1 and booked > 0, usage["totals"]
    # ... and the organisation's daily budget was charged at least as much (the reservation is
    # settled when the stream ends).
    deadline = time.monotonic() + 10
    while (used := usage["budgets"][BUDGET]["used"]) < booked and time.monotonic() < deadline:
        time.sleep(0.1)
        usage = http.get("/api/v1/admin/usage", headers=auth(alice)).json()
    assert used >= booked, (used, booked, usage["budgets"])


def _asked(fleet, requests: int, seconds: float = 30.0) -> None:
    """Waits until the upstream has had `requests` requests in all."""
    deadline = time.monotonic() + seconds
    while fleet.upstream.stats()["requests"] < requests:
        assert time.monotonic() < deadline, f"the upstream was not asked {requests} times"
        time.sleep(0.02)
