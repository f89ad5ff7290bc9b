"""The edge check for text that is not valid Unicode (gateway.unicode_input, run by the
middleware) and the net under it (the UnicodeEncodeError handler): a 400 naming the field, in the
one error shape, however the body is split into chunks, and nothing for valid text."""

from __future__ import annotations

import json

import httpx
import orjson
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from chatbot.conversation.v1 import conversation_pb2 as pb
from gateway.errors import install_error_handlers
from gateway.middleware import GatewayMiddleware
from gateway.unicode_input import is_json_body, lone_surrogate_field


async def echo(scope, receive, send):
    """Reads the whole body and answers 200 with its length (what a route would do)."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps({"size": size})})


async def call(body: bytes, chunk: int, content_type: bytes | None = b"application/json",
               extra_headers: tuple = ()) -> tuple[int, dict]:
    """Sends `body` through the middleware in chunks of `chunk` bytes."""
    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = ([(b"content-type", content_type)] if content_type is not None else []) + list(extra_headers)
    scope = {"type": "http", "method": "POST", "path": "/api/v1/chat", "headers": headers, "query_string": b""}
    await GatewayMiddleware(echo, max_body_bytes=1 << 20)(scope, receive, send)
    return sent[0]["status"], orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 1000])
@pytest.mark.parametrize("bad", [b"\\ud800", b"\\uDFFF", b"\\uDbff", b"\xed\xa0\x80", b"\xed\xbf\xbf"])
async def test_a_lone_surrogate_is_refused_however_the_body_is_split(chunk, bad):
    body = b'{"model":"m","messages":[{"role":"user","content":"ok"},{"role":"user","content":"hi ' + bad + b' there"}]}'
    status, answer = await call(body, chunk)
    assert status == 400
    assert answer["error"]["code"] == "VALIDATION_ERROR"
    assert answer["error"]["details"]["errors"] == [{"field": "messages.1.content", "message": "not valid Unicode: lone surrogate"}]
    assert "messages.1.content" in answer["error"]["message"]


@pytest.mark.parametrize("body", [
    b'{"message":"smile \\ud83d\\ude00"}',  # an escaped pair is one character
    b'{"message":"a \\\\ud800 b"}',  # an escaped backslash, then letters
    '{"message":"caf\u00e9 \U0001f600"}'.encode(),
    b'{"message":"plain"}',
    b'{"message": "not json',  # FastAPI's own answer for that
])
@pytest.mark.parametrize("chunk", [1, 4, 1000])
async def test_valid_text_passes(body, chunk):
    status, answer = await call(body, chunk)
    assert status == 200 and answer == {"size": len(body)}


@pytest.mark.parametrize("content_type", [None, b"", b"Application/JSON; charset=utf-8", b"application/merge-patch+json"])
async def test_every_body_fastapi_reads_as_json_is_checked(content_type):
    status, _ = await call(b'{"a":["x","\\udc00"]}', 3, content_type)
    assert status == 400


async def test_other_bodies_are_left_to_their_readers():
    status, _ = await call(b'--b\r\n"\\ud800"\r\n--b--', 1000, b"multipart/form-data; boundary=b")
    assert status == 200


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32-be"])
async def test_utf16_and_utf32_bodies_with_a_lone_surrogate_are_refused(encoding):
    body = '{"message":"hi \ud800"}'.encode(encoding, "surrogatepass")
    status, answer = await call(body, 3)
    assert status == 400 and answer["error"]["details"]["errors"][0]["field"] == "message"


def test_the_field_named_is_the_first_in_document_order_and_keys_count():
    assert lone_surrogate_field(json.dumps({"a": "ok", "b": ["x", {"c": "\udc01"}], "d": "\ud800"}).encode()) == "b.1.c"
    assert lone_surrogate_field(json.dumps({"a": {"\ud800": 1}}).encode()) == "a"
    assert lone_surrogate_field(json.dumps("\ud800").encode()) == "body"
    assert lone_surrogate_field(b'{"a": 1, "b": [true, null, 2.5]}') is None
    assert lone_surrogate_field(b"not json \\ud800") is None
    # Two surrogates that were sent as raw bytes one by one are not joined into a character.
    assert lone_surrogate_field(b'{"a":"\xed\xa0\xbd\xed\xb8\x80"}') == "a"


def test_is_json_body_follows_fastapi():
    assert is_json_body(None) and is_json_body(b"") and is_json_body(b"application/json") and is_json_body(b"application/vnd.x+json")
    assert not is_json_body(b"text/plain") and not is_json_body(b"multipart/form-data; boundary=x")
    assert not is_json_body(b"application/x-www-form-urlencoded") and not is_json_body(b"text/json+x")


class Body(BaseModel):
    text: str


def net_app() -> FastAPI:
    """A route that encodes its input for gRPC, reached without the edge check."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/encode")
    async def encode(body: Body) -> dict:
        return {"bytes": len(pb.ChatRequest(message=body.text).SerializeToString())}

    @app.get("/bug")
    async def bug() -> dict:
        "x\u00e9".encode("ascii")
        return {}

    return app


async def test_the_net_answers_400_for_a_surrogate_that_reached_an_encoder():
    transport = httpx.ASGITransport(app=net_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.post("/encode", content=b'{"text":"hi \\ud800"}', headers={"content-type": "application/json"})
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "VALIDATION_ERROR"
        assert (await client.post("/encode", json={"text": "fine"})).status_code == 200
        # Any other encoding failure is the server's bug, and stays a 500.
        bug = await client.get("/bug")
        assert bug.status_code == 500 and bug.json()["error"]["code"] == "INTERNAL_ERROR"


async def test_a_second_content_type_does_not_skip_the_check():
    """Seen in review: the middleware read the last Content-Type, FastAPI the first."""
    status, _ = await call(b'{"message":"hi \\ud800"}', 1000, b"application/json", ((b"content-type", b"text/plain"),))
    assert status == 400
