"""WS /ws/chat on the real fleet, with the websockets client: sign in with the first frame,
chat, stop, resume an answer started elsewhere, ping; what a stranger, a foreign page or a
malformed frame gets. The answers are the SSE routes' (same events, same buffers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from e2e_support import auth, numbered_events, slow_answer, start_and_leave, stored_answer

pytestmark = pytest.mark.e2e
FAKE = "fake:fake-model"


def token(user: dict) -> str:
    return auth(user)["Authorization"].removeprefix("Bearer ")


@contextmanager
def socket(fleet, user: dict | None = None, origin: str | None = None) -> Iterator[ClientConnection]:
    url = fleet.url.replace("http://", "ws://") + "/ws/chat"
    with connect(url, origin=origin, open_timeout=10, close_timeout=5) as ws:
        if user is not None:
            ws.send(json.dumps({"type": "auth", "token": token(user), "ref": "hello"}))
            ready = receive(ws)
            assert ready["type"] == "ready" and ready["ref"] == "hello", ready
        yield ws


def receive(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=30))


def answer_frames(ws: ClientConnection, message_id: str | None = None) -> list[dict]:
    """Event frames until the answer's end (complete, stopped or error)."""
    frames = []
    while True:
        frame = receive(ws)
        assert frame["type"] == "event", frame
        if message_id is not None:
            assert frame["message_id"] == message_id
        frames.append(frame)
        if frame["event"] in ("complete", "stopped", "error"):
            return frames


def test_chat_over_a_websocket(http, fleet, alice):
    with socket(fleet, alice) as ws:
        ws.send(json.dumps({"type": "chat", "ref": "q1", "message": "Hello over a socket.", "model": FAKE, "use_rag": False}))
        frames = answer_frames(ws)
        ws.send(json.dumps({"type": "ping", "ref": "p"}))
        assert receive(ws) == {"type": "pong", "ref": "p"}
    names = [f["event"] for f in frames]
    assert names[0] == "start" and names[-1] == "complete" and "token" in names
    assert [f["id"] for f in frames] == list(range(1, len(frames) + 1))
    message_id = frames[0]["data"]["message_id"]
    assert {f["message_id"] for f in frames} == {message_id}
    text = "".join(f["data"]["token"] for f in frames if f["event"] == "token")
    stored = stored_answer(http, alice, frames[0]["data"]["conversation_id"])
    assert stored["id"] == message_id and stored["content"] == text and frames[-1]["data"]["message_id"] == message_id


def test_a_socket_resumes_and_stops_answers(http, fleet, alice):
    with slow_answer(fleet):
        # started over SSE, left after 2 tokens, followed again over the socket from where it was
        message_id, conversation_id, before = start_and_leave(http, alice, tokens=2)
        with socket(fleet, alice) as ws:
            ws.send(json.dumps({"type": "resume", "message_id": message_id, "last_event_id": before[-1][0]}))
            rest = answer_frames(ws, message_id)
        assert rest[0]["id"] == before[-1][0] + 1 and rest[-1]["event"] == "complete"
        text = "".join(d["token"] for _, name, d in before if name == "token") + "".join(
            f["data"]["token"] for f in rest if f["event"] == "token")
        assert text == stored_answer(http, alice, conversation_id)["content"]

    long_script = " ".join(f"w{i}" for i in range(400))
    with slow_answer(fleet, long_script), socket(fleet, alice) as ws:
        ws.send(json.dumps({"type": "chat", "message": "Recite.", "model": FAKE, "use_rag": False}))
        start = receive(ws)
        message_id = start["data"]["message_id"]
        ws.send(json.dumps({"type": "stop", "ref": "s", "message_id": message_id}))
        frames = [start]
        while (frame := receive(ws))["type"] == "event":
            frames.append(frame)
        assert frame == {"type": "stopping", "ref": "s", "message_id": message_id}
        frames += answer_frames(ws, message_id)
    assert frames[-1]["event"] == "stopped" and all(f["event"] != "complete" for f in frames)


def test_what_strangers_and_bad_frames_get(http, fleet, alice, bob):
    # a page of another site cannot open the socket
    with pytest.raises(InvalidStatus) as refused:
        with socket(fleet, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    with socket(fleet, alice, origin=fleet.url):  # the gateway's own pages can
        pass
    # the first frame must sign in, with a good token
    for first in ({"type": "chat", "message": "hi"}, {"type": "auth", "token": "not-a-token"}, {"type": "auth"}):
        with socket(fleet) as ws:
            ws.send(json.dumps(first))
            frame = receive(ws)
            assert frame["type"] == "error" and frame["error"]["code"] == "AUTHENTICATION_ERROR", (first, frame)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
    # bad frames get the one error shape and the socket stays open
    with slow_answer(fleet):
        message_id, _, _ = start_and_leave(http, alice, tokens=1)
    with socket(fleet, bob) as ws:
        for frame, code in (("not json", "VALIDATION_ERROR"), (json.dumps([1]), "VALIDATION_ERROR"), (b"\x00binary", "VALIDATION_ERROR"),
                            (json.dumps({"type": "dance"}), "VALIDATION_ERROR"),
                            (json.dumps({"type": "chat", "message": "hi", "temperature": 9}), "VALIDATION_ERROR"),
                            (json.dumps({"type": "resume", "message_id": "nope"}), "VALIDATION_ERROR"),
                            (json.dumps({"type": "resume", "message_id": message_id, "ref": "r"}), "NOT_FOUND"),
                            (json.dumps({"type": "stop", "message_id": message_id}), "NOT_FOUND")):
            ws.send(frame)
            reply = receive(ws)
            assert reply["type"] == "error" and reply["error"]["code"] == code, (frame, reply)
            assert "Traceback" not in json.dumps(reply)
        assert reply["ref"] == ""
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws)["type"] == "pong"
    # the stranger's attempts left alice's answer alone
    with socket(fleet, alice) as ws:
        ws.send(json.dumps({"type": "resume", "message_id": message_id, "last_event_id": 0, "ref": "mine"}))
        assert answer_frames(ws, message_id)[-1]["event"] == "complete"


def test_the_events_match_the_sse_stream(http, fleet, alice):
    """The socket carries the SSE events themselves: the same answer read both ways is the same."""
    with slow_answer(fleet):
        message_id, _, _ = start_and_leave(http, alice, tokens=1)
        with socket(fleet, alice) as ws:
            ws.send(json.dumps({"type": "resume", "message_id": message_id, "last_event_id": 0}))
            frames = answer_frames(ws, message_id)
    with http.stream("GET", f"/api/v1/chat/stream/{message_id}", headers=auth(alice)) as reply:
        sse = list(numbered_events(reply.iter_lines()))
    assert [(f["id"], f["event"], f["data"]) for f in frames] == sse
