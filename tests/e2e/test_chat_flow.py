"""A person's session over HTTP against the real fleet and the real embedded model."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from e2e_support import auth, events, register_and_login

pytestmark = pytest.mark.e2e


def stream_turn(http, user, **body):
    with http.stream("POST", "/api/v1/chat/stream", json=body, headers=auth(user)) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert reply.headers["cache-control"] == "no-cache"
        assert reply.headers["x-accel-buffering"] == "no"
        got = list(events(reply.iter_lines()))
    return reply, got


def test_streamed_answer_from_the_embedded_model(http, alice):
    reply, got = stream_turn(http, alice, message="What is the capital of France? Answer in one sentence.", max_tokens=48)
    names = [n for n, _ in got]
    assert names[0] == "start" and names[-1] == "complete" and "error" not in names
    tokens = [d for n, d in got if n == "token"]
    assert tokens, "the model streamed tokens"
    assert [t["index"] for t in tokens] == list(range(len(tokens)))
    text = "".join(t["token"] for t in tokens)
    assert text.strip() and any(c.isalpha() for c in text)
    done = got[-1][1]
    assert done["provider"] == "local" and done["model"] == "smollm2-135m-instruct"
    assert done["usage"]["prompt"] > 10 and 0 < done["usage"]["completion"] <= 48
    assert done["usage"]["total"] == done["usage"]["prompt"] + done["usage"]["completion"]
    assert done["conversation_id"] == reply.headers["x-conversation-id"]

    stored = http.get(f"/api/v1/conversations/{done['conversation_id']}/messages", headers=auth(alice)).json()
    roles = [m["role"] for m in stored["messages"]]
    assert roles == ["user", "assistant"]
    assistant = stored["messages"][1]
    assert assistant["id"] == done["message_id"] and assistant["content"] == text
    assert assistant["finish_reason"] == done["finish_reason"] and assistant["tokens_used"] == done["usage"]
    assert assistant["ttft_ms"] > 0 and assistant["latency_ms"] >= assistant["ttft_ms"]


def test_follow_up_turn_uses_history(http, alice):
    first = http.post("/api/v1/chat", json={"message": "My name is Zanzibar. Remember it.", "max_tokens": 24}, headers=auth(alice))
    assert first.status_code == 200, first.text
    one = first.json()
    assert one["role"] == "assistant" and one["content"] and one["conversation_id"].startswith("conv_")
    assert one["tokens_used"]["total"] == one["tokens_used"]["prompt"] + one["tokens_used"]["completion"]
    second = http.post(
        "/api/v1/chat", json={"conversation_id": one["conversation_id"], "message": "What is my name?", "max_tokens": 24}, headers=auth(alice)
    ).json()
    assert second["conversation_id"] == one["conversation_id"]
    # The second prompt carries the first exchange: more tokens than both of its parts' answers alone.
    assert second["tokens_used"]["prompt"] > one["tokens_used"]["prompt"] + one["tokens_used"]["completion"]
    conv = http.get(f"/api/v1/conversations/{one['conversation_id']}", headers=auth(alice)).json()
    assert conv["message_count"] == 4
    # the model can be named in every spelling /v1/models lists
    for model in ("local:smollm2-135m-instruct", "local/smollm2-135m-instruct", "smollm2-135m-instruct"):
        reply = http.post("/api/v1/chat", json={"message": "Hi", "model": model, "max_tokens": 4}, headers=auth(alice))
        assert reply.status_code == 200 and reply.json()["provider"] == "local", (model, reply.text)


def _ordered(conversations: list[dict], field: str, newest_first: bool = False) -> list[str]:
    """The order the server promises: by `field`, equal times by id (two creations can share a
    clock tick, so no test waits for the clock to move)."""
    by_id = sorted(conversations, key=lambda c: c["id"])
    return [c["id"] for c in sorted(by_id, key=lambda c: datetime.fromisoformat(c[field]), reverse=newest_first)]


def test_list_and_delete(http):
    user = register_and_login(http)
    created = [http.post("/api/v1/conversations", json={"title": text}, headers=auth(user)).json()
               for text in ("first topic", "second topic", "third topic")]
    ids = [c["id"] for c in created]
    stamps = [datetime.fromisoformat(c["created_at"]) for c in created]
    assert stamps == sorted(stamps)  # stamped in the order they were made
    oldest_first = _ordered(created, "created_at")
    page = http.get("/api/v1/conversations", params={"limit": 2, "sort": "created", "order": "asc"}, headers=auth(user)).json()
    assert [c["id"] for c in page["conversations"]] == oldest_first[:2]
    assert page["pagination"] == {"total": 3, "limit": 2, "offset": 0, "has_more": True}
    rest = http.get("/api/v1/conversations", params={"limit": 2, "offset": 2, "sort": "created", "order": "asc"}, headers=auth(user)).json()
    assert [c["id"] for c in rest["conversations"]] == oldest_first[2:] and not rest["pagination"]["has_more"]
    newest = http.get("/api/v1/conversations", headers=auth(user)).json()
    assert [c["id"] for c in newest["conversations"]] == _ordered(created, "updated_at", newest_first=True)

    assert http.delete(f"/api/v1/conversations/{ids[0]}", headers=auth(user)).status_code == 204
    assert http.get(f"/api/v1/conversations/{ids[0]}", headers=auth(user)).status_code == 404
    assert http.delete(f"/api/v1/conversations/{ids[0]}", headers=auth(user)).status_code == 404
    assert http.get("/api/v1/conversations", headers=auth(user)).json()["pagination"]["total"] == 2


def test_another_user_is_denied(http, alice, bob):
    conv = http.post("/api/v1/chat", json={"message": "A private note.", "max_tokens": 8}, headers=auth(alice)).json()["conversation_id"]
    for method, path, body in (
        ("GET", f"/api/v1/conversations/{conv}", None),
        ("GET", f"/api/v1/conversations/{conv}/messages", None),
        ("DELETE", f"/api/v1/conversations/{conv}", None),
        ("POST", "/api/v1/chat", {"conversation_id": conv, "message": "let me in", "max_tokens": 4}),
        ("POST", "/api/v1/chat/stream", {"conversation_id": conv, "message": "let me in", "max_tokens": 4}),
    ):
        reply = http.request(method, path, json=body, headers=auth(bob))
        assert reply.status_code == 404, (method, path, reply.text)
        assert reply.json()["error"]["code"] == "NOT_FOUND"
    assert http.get("/api/v1/conversations", headers=auth(bob)).json()["pagination"]["total"] == 0
    # nothing of bob's attempt was stored in alice's conversation
    messages = http.get(f"/api/v1/conversations/{conv}/messages", headers=auth(alice)).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]


def test_stop_stores_the_partial_answer(http, alice):
    body = {"message": "Write a very long story about a dragon who learns to bake bread, with many chapters.", "max_tokens": 1500, "temperature": 0.8}
    conversation_id = None
    seen = 0
    after_stop = []
    with http.stream("POST", "/api/v1/chat/stream", json=body, headers=auth(alice)) as reply:
        conversation_id = reply.headers["x-conversation-id"]
        message_id = reply.headers["x-message-id"]
        for name, _data in events(reply.iter_lines()):
            if seen >= 5:
                after_stop.append(name)
            if name == "token":
                seen += 1
                if seen == 5:  # the user presses Stop mid-answer
                    stop = http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(alice))
                    assert stop.status_code == 202, stop.text
    # the stream the client was reading ends with the stop, without a completion
    assert after_stop[-1] == "stopped" and "complete" not in after_stop, after_stop
    stopped_twice = http.post(f"/api/v1/chat/stream/{message_id}/stop", headers=auth(alice))
    assert stopped_twice.status_code == 409 and stopped_twice.json()["error"]["code"] == "CONFLICT"
    # Stored once the cancel has reached the conversation service and the local model's turn has
    # let go; on a loaded two-core machine that took over 30 s once (one full run of four). A
    # finished answer would be stored as "stop"/"length", so a longer wait hides no failure.
    deadline = time.monotonic() + 120
    assistant = None
    while time.monotonic() < deadline:
        messages = http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(alice)).json()["messages"]
        assistant = next((m for m in messages if m["role"] == "assistant"), None)
        if assistant:
            break
        time.sleep(0.2)
    assert assistant is not None, "the partial answer was stored"
    assert assistant["finish_reason"] == "cancelled" and assistant["id"] == message_id
    assert assistant["content"], "the partial text is kept"
    assert 5 <= assistant["tokens_used"]["completion"] < 1500
    # generation upstream stopped: the model is free again and answers the next request promptly
    started = time.monotonic()
    again = http.post("/api/v1/chat", json={"message": "Say yes.", "max_tokens": 4}, headers=auth(alice))
    assert again.status_code == 200 and time.monotonic() - started < 15


def test_openai_sdk_streams_from_v1(fleet, alice):
    from openai import OpenAI

    client = OpenAI(base_url=f"{fleet.url}/v1", api_key=alice["Authorization"].removeprefix("Bearer "), max_retries=0)
    models = [m.id for m in client.models.list().data]
    assert "default" in models and "local:smollm2-135m-instruct" in models
    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Name three fruits."}], stream=True, max_tokens=32,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert text.strip() and finish in ("stop", "length")
    assert usage is not None and usage.completion_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    whole = client.chat.completions.create(model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Say hello."}], max_tokens=12)
    assert whole.choices[0].message.content and whole.model == "smollm2-135m-instruct"
    assert whole.usage.completion_tokens <= 12


def test_openai_sdk_rejects_a_bad_token(fleet):
    import openai

    client = openai.OpenAI(base_url=f"{fleet.url}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])


def test_heartbeats_while_waiting_for_tokens(http, alice):
    body = {"message": "Tell me about the history of bread in " + "great detail, " * 40, "max_tokens": 8}
    with http.stream("POST", "/api/v1/chat/stream", json=body, headers=auth(alice)) as reply:
        lines = list(reply.iter_lines())
    assert ": ping" in lines, "a heartbeat comment was sent while the prompt was processed"
    assert any(line.startswith("event: complete") for line in lines)


def test_personal_data_in_model_output_is_redacted_while_streaming(fleet, alice, http):
    """The fake upstream streams a scripted answer in 3-character pieces (boundaries cut through
    every value); neither the SSE stream nor the stored message shows the raw values."""
    secrets = ["jane.doe@example.com", "4111 1111 1111 1111", "+1 415 555 0132", "DE89 3704 0044 0532 0130 00",
               "sk-proj-abcdefghijklmnopqrstuvwx1234"]
    script = f"Sure. Mail {secrets[0]}, card {secrets[1]}, phone {secrets[2]}, IBAN {secrets[3]}, key {secrets[4]}. " \
             "![x](https://evil.example.net/p.png?c=chat) Done."
    fleet.upstream.control(script=script, script_piece=3)
    try:
        with http.stream("POST", "/v1/chat/completions", headers=auth(alice),
                         json={"model": "fake:fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as reply:
            assert reply.status_code == 200
            body = "".join(reply.iter_text())
        text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                       for line in body.splitlines() if line.startswith("data: {") and '"choices":[{' in line)
        for value in secrets:
            assert value not in body
        assert "evil.example.net" not in body
        for label in ("EMAIL", "CARD", "PHONE", "IBAN", "SECRET"):
            assert f"[{label} REDACTED]" in text
        assert text.startswith("Sure.") and text.endswith("Done.")
    finally:
        fleet.upstream.control(script="")
