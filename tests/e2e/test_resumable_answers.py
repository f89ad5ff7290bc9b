"""Answers that survive the client: a streamed answer goes on when the client leaves (a reload, a
closed tab, a switch of conversation), and `GET /api/v1/chat/stream/{message_id}` with
`Last-Event-ID` replays what was missed and follows the rest, nothing lost or doubled. On the
SQLite fleet the events wait in the gateway's process; on the PostgreSQL fleet in the real Redis,
where a second gateway replica serves the client that comes back."""

from __future__ import annotations

import time

import httpx
import pytest

from e2e_support import SCRIPT, auth, numbered_events, slow_answer, start_and_leave, stored_answer
from fleet import free_port

pytestmark = pytest.mark.e2e

def follow(client: httpx.Client, user: dict, message_id: str, last_event_id: int | None) -> list[tuple[int, str, dict]]:
    headers = {**auth(user), **({"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {})}
    with client.stream("GET", f"/api/v1/chat/stream/{message_id}", headers=headers) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        return list(numbered_events(reply.iter_lines()))


def text_of(events: list[tuple[int, str, dict]]) -> str:
    return "".join(data["token"] for _, name, data in events if name == "token")


def check_resumed(http: httpx.Client, other: httpx.Client, user: dict, fleet) -> None:
    with slow_answer(fleet):
        message_id, conversation_id, before = start_and_leave(http, user, tokens=3)
        # the start event names the answer; event ids count up from 1 without a gap
        assert before[0][1] == "start" and before[0][2]["message_id"] == message_id
        assert [n for n, _, _ in before] == list(range(1, len(before) + 1))
        rest = follow(other, user, message_id, before[-1][0])
    assert rest, "the answer went on after the client left"
    # nothing missed, nothing doubled: the ids continue where the client left
    assert [n for n, _, _ in rest] == list(range(before[-1][0] + 1, before[-1][0] + 1 + len(rest)))
    assert rest[-1][1] == "complete" and rest[-1][2]["message_id"] == message_id
    assert rest[-1][2]["finish_reason"] == "stop"
    answer = text_of(before) + text_of(rest)
    assert answer == SCRIPT
    stored = stored_answer(http, user, conversation_id)
    assert stored["id"] == message_id and stored["content"] == SCRIPT
    # Coming back without Last-Event-ID replays the whole answer, the same events.
    again = follow(other, user, message_id, None)
    assert [(n, name) for n, name, _ in again] == [(n, name) for n, name, _ in before + rest]
    assert text_of(again) == SCRIPT


def test_a_client_that_leaves_comes_back_to_the_whole_answer(http, fleet, alice):
    check_resumed(http, http, alice, fleet)


def test_another_gateway_replica_serves_the_client_that_comes_back(http, fleet, alice):
    if fleet.backend != "postgres":
        pytest.skip("the fleet with the Redis answer buffer is the PostgreSQL one")
    url = fleet.start_gateway_replica("gateway-replica", free_port())
    try:
        with httpx.Client(base_url=url, timeout=60) as replica:
            check_resumed(http, replica, alice, fleet)
    finally:
        process = fleet.processes.pop("gateway-replica")
        process.terminate()
        assert process.wait(30) in (0, -15)


def test_a_conversation_names_its_answer_in_flight_to_its_owner_on_every_replica(http, fleet, alice, bob):
    """pending_message_id: set while the answer is generated (on the conversation and its list
    entry, on this replica and, with the Redis buffer, on any other), gone once it ended, and
    never shown to another user."""
    replica_url = fleet.start_gateway_replica("gateway-pending", free_port()) if fleet.backend == "postgres" else None
    try:
        with slow_answer(fleet), httpx.Client(base_url=replica_url or fleet.url, timeout=60) as other:
            message_id, conversation_id, before = start_and_leave(http, alice, tokens=1)
            for client in (http, other):
                conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=auth(alice))
                assert conversation.status_code == 200, conversation.text
                assert conversation.json()["pending_message_id"] == message_id
                listed = client.get("/api/v1/conversations", headers=auth(alice)).json()["conversations"]
                assert {c["id"]: c["pending_message_id"] for c in listed}[conversation_id] == message_id
            # another user: the conversation is not theirs, and nothing of it shows in their list
            assert http.get(f"/api/v1/conversations/{conversation_id}", headers=auth(bob)).status_code == 404
            assert all(c["pending_message_id"] is None for c in http.get("/api/v1/conversations", headers=auth(bob)).json()["conversations"])
            rest = follow(other, alice, message_id, before[-1][0])  # to its end
            assert rest[-1][1] == "complete"
            for client in (http, other):
                conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=auth(alice)).json()
                assert conversation["pending_message_id"] is None
                assert conversation["current_message_id"] == message_id
    finally:
        if replica_url:
            process = fleet.processes.pop("gateway-pending")
            process.terminate()
            assert process.wait(30) in (0, -15)


def test_only_the_owner_follows_or_stops_an_answer(http, fleet, alice, bob):
    long_script = " ".join(f"w{i}" for i in range(400))  # about 12 s: it is stopped long before
    with slow_answer(fleet, long_script):
        message_id, conversation_id, _ = start_and_leave(http, alice, tokens=1)
        for reply in (http.get(f"/api/v1/chat/stream/{message_id}", headers=auth(bob)),
                      http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(bob)),
                      http.get("/api/v1/chat/stream/msg_" + "0" * 32, headers=auth(alice))):
            assert reply.status_code == 404 and reply.json()["error"]["code"] == "NOT_FOUND", reply.text
        for bad in ("abc", "-1", "1" * 40, "\u00b2", "1.5"):
            # as raw bytes: a latin-1 digit such as "²" must not pass for one
            reply = http.get(f"/api/v1/chat/stream/{message_id}", headers={**auth(alice), "Last-Event-ID": bad.encode("latin-1")})
            assert reply.status_code == 400 and reply.json()["error"]["code"] == "VALIDATION_ERROR", (bad, reply.text)
        assert http.get("/api/v1/chat/stream/not-an-id", headers=auth(alice)).status_code == 400
        assert http.get(f"/api/v1/chat/stream/{message_id}").status_code == 401
        # the owner can still stop it: the stored answer is cut short, and it is the one streamed
        stop = http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(alice))
        assert stop.status_code == 202, stop.text
        events = follow(http, alice, message_id, None)
    assert events[-1][1] == "stopped" and all(name != "complete" for _, name, _ in events)
    # Stored once the cancel has reached the conversation service.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored = stored_answer(http, alice, conversation_id)
        if stored["role"] == "assistant":
            break
        time.sleep(0.1)
    assert stored["id"] == message_id and stored["finish_reason"] == "cancelled"
    # what was streamed is what was stored (the service may have had a little more when it stopped)
    assert stored["content"].startswith(text_of(events)) and len(stored["content"]) < len(long_script)


def test_a_provider_that_breaks_off_leaves_exactly_the_streamed_part_stored(http, fleet, alice):
    """The provider's connection breaks after five pieces: the client gets those pieces (the
    output filter's held-back tail included) and an error event it may retry on; the stored answer
    is exactly the text the client was sent."""
    fleet.upstream.control(script=SCRIPT, script_piece=3, cut_after=5, gap_ms=2.0)
    try:
        body = {"message": "Recite the words.", "model": "fake:fake-model", "use_rag": False}
        with http.stream("POST", "/api/v1/chat/stream", json=body, headers=auth(alice)) as reply:
            assert reply.status_code == 200
            events = list(numbered_events(reply.iter_lines()))
            conversation_id = reply.headers["x-conversation-id"]
    finally:
        fleet.upstream.control(script="", script_piece=3, cut_after=0)
    streamed = "".join(d["token"] for _, name, d in events if name == "token")
    assert streamed == SCRIPT[:15]
    assert events[-1][1] == "error" and events[-1][2]["error"]["code"] == "SERVICE_UNAVAILABLE"
    stored = stored_answer(http, alice, conversation_id)
    assert stored["content"] == streamed and stored["finish_reason"] == "error"


def test_a_gateway_that_shuts_down_lets_its_answers_finish(http, fleet, alice):
    """SIGTERM to a gateway replica mid-answer (a rolling restart): the answer it was generating
    is not cut; it is stored whole, and (with the Redis buffer) followed to its end elsewhere."""
    url = fleet.start_gateway_replica("gateway-draining", free_port())
    process = fleet.processes["gateway-draining"]
    try:
        with slow_answer(fleet), httpx.Client(base_url=url, timeout=60) as replica:
            message_id, conversation_id, before = start_and_leave(replica, alice, tokens=2)
            process.terminate()
            if fleet.backend == "postgres":  # the buffer is shared: the answer is followed on the other gateway
                rest = follow(http, alice, message_id, before[-1][0])
                assert rest[-1][1] == "complete" and text_of(before) + text_of(rest) == SCRIPT
            assert process.wait(30) in (0, -15)
    finally:
        fleet.processes.pop("gateway-draining", None)
        if process.poll() is None:
            process.kill()
    stored = stored_answer(http, alice, conversation_id)
    assert stored["id"] == message_id and stored["finish_reason"] == "stop" and stored["content"] == SCRIPT


def test_a_partner_that_leaves_a_v1_stream_ends_the_provider_request(http, fleet, alice):
    """/v1 is not resumable (OpenAI's wire has no such thing): a partner that closes its stream
    closes the provider's request too, through every hop (gateway, orchestrator, HTTP upstream)."""
    before = fleet.upstream.stats()["disconnects"]
    long_script = " ".join(f"w{i}" for i in range(400))
    with slow_answer(fleet, long_script):
        body = {"model": "fake:fake-model", "stream": True, "messages": [{"role": "user", "content": "Recite."}]}
        with http.stream("POST", "/v1/chat/completions", json=body, headers=auth(alice)) as reply:
            assert reply.status_code == 200
            chunks = 0
            for line in reply.iter_lines():
                chunks += line.startswith("data: {")
                if chunks == 3:
                    break  # the partner goes away mid-answer
        left = time.monotonic()
        while fleet.upstream.stats()["disconnects"] == before:
            # about 12 s of answer left: the upstream hearing of it well before then is the point
            assert time.monotonic() - left < 5, "the provider request outlived its caller"
            time.sleep(0.05)
