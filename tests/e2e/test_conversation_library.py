"""What a person does with past conversations over HTTP, on the real fleet: search them (titles
and what was said), rename, export as Markdown, rate answers (stored with the message and
counted in a metric), edit a question or regenerate an answer in a new branch and switch between
branches; nobody else can touch them."""

from __future__ import annotations

import pytest

from e2e_support import auth

pytestmark = pytest.mark.e2e
FAKE = "fake:fake-model"


def turn(http, user, message: str, conversation_id: str = "") -> dict:
    body = {"message": message, "model": FAKE, "use_rag": False, **({"conversation_id": conversation_id} if conversation_id else {})}
    reply = http.post("/api/v1/chat", json=body, headers=auth(user))
    assert reply.status_code == 200, reply.text
    return reply.json()


def search(http, user, q: str) -> list[str]:
    reply = http.get("/api/v1/conversations", params={"q": q}, headers=auth(user))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["pagination"]["total"] == len(body["conversations"])
    return [c["id"] for c in body["conversations"]]


def feedback_count(http, rating: str) -> float:
    for line in http.get("/api/v1/metrics").text.splitlines():
        if line.startswith(f'chat_feedback_total{{rating="{rating}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_search_finds_titles_and_what_was_said(http, alice, bob):
    garden = turn(http, alice, "Which plants like the shade of a north-facing Garden?")["conversation_id"]
    taxes = turn(http, alice, "How do I file my taxes?")["conversation_id"]
    turn(http, alice, "And what about 100% of the Zebra_crossing fees?", taxes)
    assert search(http, alice, "north-FACING garden") == [garden]  # case-insensitive, in the first message (the title too)
    assert search(http, alice, "zebra_crossing") == [taxes]  # a later message, not the title
    assert search(http, alice, "100%") == [taxes]
    assert search(http, alice, "zebra%crossing") == []  # % and _ are taken literally, not as wildcards
    assert search(http, alice, "_") == [taxes]
    assert search(http, bob, "garden") == []  # only one's own
    assert sorted(search(http, alice, "")) == sorted([garden, taxes])  # alice is new: these are all hers
    assert http.get("/api/v1/conversations", params={"q": "x" * 201}, headers=auth(alice)).status_code == 400


def test_rename_and_export_as_markdown(http, alice, bob):
    first = turn(http, alice, "Tell me about lighthouses.")
    conversation_id = first["conversation_id"]
    turn(http, alice, "And about their keepers?", conversation_id)
    renamed = http.patch(f"/api/v1/conversations/{conversation_id}", json={"title": "  Lighthouse   notes é "}, headers=auth(alice))
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Lighthouse notes é"
    assert http.get(f"/api/v1/conversations/{conversation_id}", headers=auth(alice)).json()["title"] == "Lighthouse notes é"
    for bad in ({"title": ""}, {"title": "   "}, {"title": "x" * 201}, {"title": "ok", "extra": 1}, {}):
        reply = http.patch(f"/api/v1/conversations/{conversation_id}", json=bad, headers=auth(alice))
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "VALIDATION_ERROR", (bad, reply.text)
    assert http.patch(f"/api/v1/conversations/{conversation_id}", json={"title": "mine now"}, headers=auth(bob)).status_code == 404

    export = http.get(f"/api/v1/conversations/{conversation_id}/export", headers=auth(alice))
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("text/markdown")
    assert export.headers["content-disposition"] == 'attachment; filename="lighthouse-notes.md"'
    text = export.text
    assert text.startswith("# Lighthouse notes é\n")
    messages = http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(alice)).json()["messages"]
    assert len(messages) == 4
    position = 0
    for m in messages:  # every message, in order, under its author
        heading = "## You" if m["role"] == "user" else f"## Assistant ({m['provider']}:{m['model']})"
        position = text.index(heading, position)
        position = text.index(m["content"].strip(), position)
    assert http.get(f"/api/v1/conversations/{conversation_id}/export", headers=auth(bob)).status_code == 404


def test_rating_an_answer(http, alice, bob):
    answer = turn(http, alice, "Rate me.")
    conversation_id, message_id = answer["conversation_id"], answer["id"]
    path = f"/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback"
    downs = feedback_count(http, "down")
    rated = http.put(path, json={"rating": "down", "comment": "  Too short.  "}, headers=auth(alice))
    assert rated.status_code == 200, rated.text
    assert rated.json()["id"] == message_id
    assert rated.json()["feedback"]["rating"] == "down" and rated.json()["feedback"]["comment"] == "Too short."
    assert feedback_count(http, "down") == downs + 1
    stored = http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(alice)).json()["messages"]
    assert [m["feedback"] for m in stored][0] is None  # the user's own message has none
    assert stored[1]["feedback"]["rating"] == "down" and stored[1]["feedback"]["at"]
    changed = http.put(path, json={"rating": "up"}, headers=auth(alice)).json()["feedback"]
    assert changed["rating"] == "up" and changed["comment"] == ""  # a new rating replaces the old, comment included
    # nobody else rates it, and only answers are rated
    assert http.put(path, json={"rating": "up"}, headers=auth(bob)).status_code == 404
    user_message = stored[0]["id"]
    reply = http.put(f"/api/v1/conversations/{conversation_id}/messages/{user_message}/feedback", json={"rating": "up"}, headers=auth(alice))
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "NOT_FOUND"
    for bad in ({"rating": "meh"}, {"rating": "up", "comment": "x" * 2001}, {}):
        assert http.put(path, json=bad, headers=auth(alice)).status_code == 400, bad
    # withdrawn
    assert http.delete(path, headers=auth(alice)).status_code == 204
    assert http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(alice)).json()["messages"][1]["feedback"] is None
    assert http.delete(path, headers=auth(bob)).status_code == 404


def branch(http, user, conversation_id: str, which: str = "current") -> list[dict]:
    reply = http.get(f"/api/v1/conversations/{conversation_id}/messages", params={"branch": which, "limit": 100}, headers=auth(user))
    assert reply.status_code == 200, reply.text
    return reply.json()["messages"]


def chat(http, user, **body) -> dict:
    reply = http.post("/api/v1/chat", json={"model": FAKE, "use_rag": False, **body}, headers=auth(user))
    assert reply.status_code == 200, reply.text
    return reply.json()


def prompt_texts(fleet) -> list[str]:
    """What the provider was sent last, without the system prompt."""
    return [m["content"] for m in fleet.upstream.stats()["last_messages"] if m["role"] != "system"]


def test_edit_and_regenerate_branch_and_every_branch_stays_reachable(http, fleet, alice, bob):
    a1 = chat(http, alice, message="Question one about owls.")
    conversation_id = a1["conversation_id"]
    a2 = chat(http, alice, message="Question two about owls.", conversation_id=conversation_id)
    q1, _, q2, _ = (m["id"] for m in branch(http, alice, conversation_id))

    # Regenerate the second answer: a sibling of it, answering the same stored question.
    again = chat(http, alice, conversation_id=conversation_id, regenerate_message_id=a2["id"])
    assert prompt_texts(fleet) == ["Question one about owls.", a1["content"], "Question two about owls."]
    current = branch(http, alice, conversation_id)
    assert [m["id"] for m in current] == [q1, a1["id"], q2, again["id"]]
    assert current[-1]["parent_id"] == q2 and current[0]["parent_id"] is None
    assert http.get(f"/api/v1/conversations/{conversation_id}", headers=auth(alice)).json()["current_message_id"] == again["id"]

    # Edit the first question: a new branch from the start; the model sees no other branch.
    edited = chat(http, alice, conversation_id=conversation_id, edit_message_id=q1, message="Question one, about cats instead.")
    assert prompt_texts(fleet) == ["Question one, about cats instead."]
    current = branch(http, alice, conversation_id)
    assert [m["content"] for m in current] == ["Question one, about cats instead.", edited["content"]]
    assert current[0]["parent_id"] is None and current[1]["parent_id"] == current[0]["id"]
    every = branch(http, alice, conversation_id, "all")
    assert len(every) == 7 and {q1, q2, a1["id"], a2["id"], again["id"], edited["id"]} <= {m["id"] for m in every}

    # Back to the first branch: its newest answer is shown; then the earlier answer's branch.
    switched = http.patch(f"/api/v1/conversations/{conversation_id}", json={"current_message_id": q1}, headers=auth(alice))
    assert switched.status_code == 200 and switched.json()["current_message_id"] == again["id"]
    http.patch(f"/api/v1/conversations/{conversation_id}", json={"current_message_id": a2["id"]}, headers=auth(alice))
    assert [m["id"] for m in branch(http, alice, conversation_id)] == [q1, a1["id"], q2, a2["id"]]
    # and the conversation goes on from the branch shown
    chat(http, alice, message="Question three.", conversation_id=conversation_id)
    assert prompt_texts(fleet) == ["Question one about owls.", a1["content"], "Question two about owls.", a2["content"], "Question three."]
    assert branch(http, alice, conversation_id)[-2]["parent_id"] == a2["id"]

    # What cannot be edited or answered again, and who cannot
    for body in ({"regenerate_message_id": q1}, {"edit_message_id": a1["id"], "message": "x"}):
        reply = http.post("/api/v1/chat", json={"model": FAKE, "conversation_id": conversation_id, **body}, headers=auth(alice))
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "NOT_FOUND", (body, reply.text)
    for body in ({"edit_message_id": q1, "message": "x"}, {"conversation_id": conversation_id, "edit_message_id": q1, "regenerate_message_id": a2["id"], "message": "x"},
                 {"conversation_id": conversation_id, "regenerate_message_id": a2["id"], "message": "x"},
                 {"conversation_id": conversation_id, "edit_message_id": q1, "message": "  "}):
        reply = http.post("/api/v1/chat", json={"model": FAKE, **body}, headers=auth(alice))
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "VALIDATION_ERROR", (body, reply.text)
    reply = http.post("/api/v1/chat", json={"model": FAKE, "conversation_id": conversation_id, "regenerate_message_id": a2["id"]}, headers=auth(bob))
    assert reply.status_code == 404
    other = chat(http, alice, message="Elsewhere.")
    for patch in ({"current_message_id": other["id"]}, {"current_message_id": "msg_" + "0" * 32}):
        reply = http.patch(f"/api/v1/conversations/{conversation_id}", json=patch, headers=auth(alice))
        assert reply.status_code == 404, reply.text
    assert http.patch(f"/api/v1/conversations/{conversation_id}", json={"current_message_id": q1}, headers=auth(bob)).status_code == 404
    assert len(branch(http, alice, conversation_id, "all")) == 9  # nothing refused was stored
