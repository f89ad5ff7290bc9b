"""Provider trouble and restarts on the chat path, through the whole fleet: a provider's failure
reaches the client in the one error shape with its retryable flag (and the provider's Retry-After),
Stop closes the provider's request within a second, and SIGTERM to the conversation service or
the orchestrator mid-answer lets that answer finish and be stored whole."""

from __future__ import annotations

import time

import pytest

from e2e_support import SCRIPT, auth, numbered_events, slow_answer, start_and_leave, stored_answer

pytestmark = pytest.mark.e2e

BODY = {"message": "Recite the words.", "model": "fake:fake-model", "use_rag": False}


def test_a_provider_failure_reaches_the_client_with_its_retryable_flag(http, fleet, alice):
    fleet.upstream.control(fail_next=3, status=503)  # every attempt (three) fails; no other provider in the chain
    try:
        with http.stream("POST", "/api/v1/chat/stream", json=BODY, headers=auth(alice)) as reply:
            assert reply.status_code == 200
            events = list(numbered_events(reply.iter_lines()))
    finally:
        fleet.upstream.control(fail_next=0)
    assert events[-1][1] == "error"
    error = events[-1][2]["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE" and error["details"]["retryable"] is True
    assert "internal" not in error["message"].lower()

    # A provider's 429 with Retry-After: retried (waiting as told), then handed to the client as a
    # 429 with the provider's Retry-After, in the one error shape.
    fleet.upstream.control(fail_next=3, status=429, retry_after=1)
    try:
        started = time.monotonic()
        reply = http.post("/api/v1/chat", json=BODY, headers=auth(alice))
        waited = time.monotonic() - started
        requests = fleet.upstream.stats()["request_times"][-3:]
    finally:
        fleet.upstream.control(fail_next=0, retry_after=None)
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED" and reply.json()["error"]["details"]["retryable"] is True
    assert reply.headers["retry-after"] == "1"
    assert requests[1] - requests[0] >= 0.95 and requests[2] - requests[1] >= 0.95 and waited >= 1.9


def test_stop_closes_the_provider_request_within_a_second(http, fleet, alice):
    long_script = " ".join(f"w{i}" for i in range(400))  # about 12 s of answer
    with slow_answer(fleet, long_script):
        before = fleet.upstream.stats()["disconnects"]
        message_id, _, _ = start_and_leave(http, alice, tokens=2)
        asked = time.time()
        assert http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(alice)).status_code == 202
        deadline = time.monotonic() + 10
        while (stats := fleet.upstream.stats())["disconnects"] == before:
            assert time.monotonic() < deadline, "the provider request outlived the stop"
            time.sleep(0.02)
    # when the provider saw its request closed, by its own clock (the same machine's)
    assert stats["disconnect_times"][-1] - asked < 1.0


@pytest.mark.parametrize("service", ["llm-orchestrator", "conversation"])
def test_a_service_that_shuts_down_lets_the_answer_in_flight_finish(http, fleet, alice, service):
    """SIGTERM mid-answer (a rolling restart, a scale-in): the service drains its streams for its
    grace period instead of cutting them; the client gets the whole answer, and it is stored."""
    process = fleet.processes[service]
    with slow_answer(fleet), http.stream("POST", "/api/v1/chat/stream", json=BODY, headers=auth(alice)) as reply:
        assert reply.status_code == 200
        conversation_id = reply.headers["x-conversation-id"]
        events = []
        for event in numbered_events(reply.iter_lines()):
            events.append(event)
            if event[1] == "token" and process.poll() is None and sum(1 for e in events if e[1] == "token") == 2:
                process.terminate()
    try:
        assert process.wait(30) == 0, f"{service} did not stop cleanly"
    finally:
        fleet.restart(service)
    assert events[-1][1] == "complete" and events[-1][2]["finish_reason"] == "stop", events[-1]
    assert "".join(d["token"] for _, name, d in events if name == "token") == SCRIPT
    stored = stored_answer(http, alice, conversation_id)
    assert stored["finish_reason"] == "stop" and stored["content"] == SCRIPT
    # and the restarted service serves the next turns, once its callers have reconnected (their
    # reconnect backoff is capped at 2 s)
    deadline = time.monotonic() + 15
    while (reply := http.post("/api/v1/chat", json=BODY, headers=auth(alice))).status_code != 200:
        assert reply.status_code == 503 and time.monotonic() < deadline, reply.text
        time.sleep(0.2)
