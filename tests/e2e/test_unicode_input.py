"""Text that is not valid Unicode, sent over HTTP to the running fleet: a lone surrogate (a JSON
`\\ud800` escape, or its raw bytes, which Python's JSON reader also decodes) in any text field of
any route is answered 400 with the one error shape, naming the field; never a 5xx, never a reset
connection. The routes and their fields are read from the gateway's own OpenAPI document, so a
new route is covered without touching this file. Query strings, path parameters, headers and
multipart uploads carrying the same bytes, and the gRPC services fed invalid UTF-8 directly, are
checked too."""

from __future__ import annotations

import json
import re
import uuid

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e_support import every_scope_key, register_org_admin, wait_for_document
from sample_docs import make_pdf_with_a_lone_surrogate

pytestmark = pytest.mark.e2e
SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
# Text around the surrogate never holds one itself, so the inserted one is always lone (a high
# one followed by a low one would be a valid pair); NUL has its own refusal, with its own message.
AROUND = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
BAD_TEXT = st.tuples(AROUND, SURROGATES, AROUND).map("".join)


@pytest.fixture(scope="module")
def admin(http) -> dict[str, str]:
    """An organisation's admin: bearer headers of an API key with every scope, and of a session."""
    token = register_org_admin(http, "unicode")
    return {"key": f"Bearer {every_scope_key(http, token, 'unicode')}", "session": f"Bearer {token}"}


@pytest.fixture(scope="module")
def spec(http) -> dict:
    reply = http.get("/api/v1/openapi.json")
    assert reply.status_code == 200
    return reply.json()


# --- the routes' JSON text fields, from the OpenAPI document ----------------------------------


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _placeholder(spec: dict, schema: dict):
    """Some value of the schema's type, for the required fields beside the one under test (the
    answer must name the bad field whatever the others hold)."""
    schema = _resolve(spec, schema)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _placeholder(spec, option)
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        return {name: _placeholder(spec, sub) for name, sub in schema.get("properties", {}).items() if name in schema.get("required", [])}
    if kind == "array":
        return [_placeholder(spec, schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    return {"integer": 1, "number": 1.0, "boolean": False, "string": "text"}.get(kind, "text")


def _text_paths(spec: dict, schema: dict, path: tuple = (), depth: int = 0) -> list[tuple]:
    """Every place a string can go: ('messages', 0, 'content') and the like."""
    schema = _resolve(spec, schema)
    if depth > 16:  # a recursive schema
        return []
    found: list[tuple] = []
    for option in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += _text_paths(spec, option, path, depth + 1)
    kind = schema.get("type")
    if kind == "string":
        found.append(path)
    elif kind == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            found += _text_paths(spec, sub, (*path, name), depth + 1)
    elif kind == "array":
        found += _text_paths(spec, schema.get("items", {}), (*path, 0), depth + 1)
    return list(dict.fromkeys(found))


def _options(spec: dict, schema: dict) -> list[dict]:
    """The schema and every alternative it allows, nested unions flattened (pydantic writes
    `list[str] | Literal["auto"] | None` as an anyOf inside an anyOf)."""
    schema = _resolve(spec, schema)
    found = [schema]
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        found += _options(spec, option)
    return found


def _body_with(spec: dict, schema: dict, path: tuple, value):
    """A body of the schema with `value` at `path` (containers built on the way)."""
    if not path:
        return value
    options = _options(spec, schema)
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = next(o.get("items", {}) for o in options if o.get("type") == "array")
        return [_body_with(spec, items, rest, value)]
    container = next(o for o in options if head in o.get("properties", {}))
    body = _placeholder(spec, container)
    body[head] = _body_with(spec, container["properties"][head], rest, value)
    return body


def json_fields(spec: dict) -> list[tuple[str, str, tuple, dict]]:
    """(method, path, field path, body schema) for every text field of every JSON body."""
    fields = []
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            for field in _text_paths(spec, schema):
                fields.append((method.upper(), route, field, schema))
    return fields


def concrete(route: str) -> str:
    """A path with every parameter filled by a well-formed id of its kind (none exists)."""
    prefixes = {"conversation_id": "conv", "document_id": "doc", "chunk_id": "chk", "user_id": "usr", "key_id": "key"}
    return re.sub(r"\{(\w+)\}", lambda m: f"{prefixes.get(m.group(1), 'x')}_{'0' * 26}", route)


def assert_error_shape(reply: httpx.Response) -> dict:
    body = reply.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]


def test_the_openapi_document_lists_the_chat_routes_text_fields(spec):
    """The enumeration below is only as good as its reading of the schema."""
    fields = {(m, r, f) for m, r, f, _ in json_fields(spec)}
    assert ("POST", "/api/v1/chat", ("message",)) in fields
    assert ("POST", "/api/v1/chat/stream", ("system_prompt",)) in fields
    assert ("POST", "/v1/chat/completions", ("messages", 0, "content")) in fields
    assert ("POST", "/v1/chat/completions", ("messages", 0, "content", 0, "text")) in fields
    assert len({(m, r) for m, r, _ in fields}) >= 12


@pytest.mark.parametrize("raw", [False, True], ids=["escaped", "raw-bytes"])
def test_a_lone_surrogate_in_any_json_text_field_is_a_400_naming_it(http, fleet, admin, spec, raw):
    """Every (route, field): the JSON `\\udXXX` escape, or the surrogate's own (invalid UTF-8)
    bytes, which Python's JSON reader turns into the same lone surrogate."""
    fields = json_fields(spec)
    seen: set[tuple] = set()

    @given(case=st.sampled_from(fields), text=BAD_TEXT)
    @settings(max_examples=max(150, 3 * len(fields)), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case, text) -> None:
        method, route, field, schema = case
        seen.add((method, route, field))
        body = _body_with(spec, schema, field, text)
        # json.dumps escapes the surrogate as \udXXX; surrogatepass writes its three raw bytes.
        data = (json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass") if raw else json.dumps(body).encode())
        # DELETE /me takes only a session; the others are tried with the admin's API key.
        credential = admin["session"] if route == "/api/v1/me" else admin["key"]
        reply = http.request(method, concrete(route), content=data,
                             headers={"Authorization": credential, "Content-Type": "application/json"})
        assert reply.status_code == 400, (method, route, field, reply.status_code, reply.text)
        error = assert_error_shape(reply)
        assert error["code"] == "VALIDATION_ERROR"
        named = ".".join(str(p) for p in field)
        assert [e["field"] for e in error["details"]["errors"]] == [named], (route, error)

    run()
    # Sampling with at least three examples a field reaches most of them; the reported ones are
    # also sent one by one below.
    assert len(seen) >= len(fields) // 2, sorted(set((m, r, f) for m, r, f, _ in fields) - seen)


@pytest.mark.parametrize("route", ["/api/v1/chat", "/api/v1/chat/stream", "/v1/chat/completions"])
def test_the_reported_requests_answer_400_not_500(http, admin, route):
    """The three requests of the report, exactly: `{"message": "hi \\ud800 there"}`."""
    body = ('{"model":"fake:fake-model","messages":[{"role":"user","content":"hi \\ud800 there"}]}' if route.startswith("/v1")
            else '{"message":"hi \\ud800 there","model":"fake:fake-model"}')
    reply = http.post(route, content=body, headers={"Authorization": admin["key"], "Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    error = assert_error_shape(reply)
    assert error["code"] == "VALIDATION_ERROR" and "Unicode" in error["message"]
    field = "messages.0.content" if route.startswith("/v1") else "message"
    assert error["details"]["errors"][0]["field"] == field


@pytest.mark.parametrize("content_type", [None, "application/merge-patch+json", "Application/JSON; charset=utf-8"])
def test_every_content_type_the_json_reader_accepts_is_checked(http, admin, content_type):
    """FastAPI reads a body as JSON without a content type, and for any application/*+json."""
    headers = {"Authorization": admin["key"]}
    if content_type:
        headers["Content-Type"] = content_type
    reply = http.post("/api/v1/chat", content=b'{"message":"hi \\uDBFF"}', headers=headers)
    assert reply.status_code == 400 and assert_error_shape(reply)["details"]["errors"][0]["field"] == "message"


def test_a_lone_surrogate_as_an_object_key_and_a_valid_pair_are_told_apart(http, admin):
    headers = {"Authorization": admin["key"], "Content-Type": "application/json"}
    keyed = http.post("/v1/chat/completions", content=b'{"model":"m","messages":[{"role":"user","content":"x","\\udc00":1}]}', headers=headers)
    assert keyed.status_code == 400 and assert_error_shape(keyed)["details"]["errors"][0]["field"] == "messages.0"
    # An escaped pair is one valid character (an emoji): it goes through.
    pair = http.post("/api/v1/chat", content=b'{"message":"smile \\ud83d\\ude00","model":"fake:fake-model","use_rag":false}', headers=headers)
    assert pair.status_code == 200, pair.text
    # The text "\\ud800" (an escaped backslash, then letters) is valid too.
    literal = http.post("/api/v1/chat", content=b'{"message":"a \\\\ud800 b","model":"fake:fake-model","use_rag":false}', headers=headers)
    assert literal.status_code == 200, literal.text


# --- the other ways text comes in -----------------------------------------------------------

# Percent-encoded surrogate bytes, raw surrogate bytes and a UTF-16-only character in other
# forms: the server decodes them with replacement characters, never to a lone surrogate.
BAD_BYTES = [b"%ED%A0%80", b"%ED%B0%80x", b"%5Cud800", b"%F0%9F%98", b"\xed\xa0\x80"]


def test_query_and_path_parameters_with_surrogate_bytes_never_get_a_5xx(http, admin, spec):
    sent = 0
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            params = [p for p in operation.get("parameters", []) if p["in"] in ("query", "path")]
            if not params or method.upper() not in ("GET", "DELETE", "PATCH", "POST"):
                continue
            for bad in BAD_BYTES:
                if b"\xed" in bad and not bad.startswith(b"%"):
                    continue  # raw bytes in a request line: refused by the HTTP parser itself, checked below
                for param in params:
                    path = concrete(route).encode()
                    query = b""
                    if param["in"] == "path":
                        path = re.sub(rb"[a-z]+_0{26}", bad, path, count=1)
                    else:
                        query = param["name"].encode() + b"=" + bad
                    url = httpx.URL(path.decode("latin-1"), query=query)
                    reply = http.request(method.upper(), url, headers={"Authorization": admin["key"]},
                                         **({"json": {}} if method.upper() in ("PATCH", "POST") else {}))
                    sent += 1
                    assert reply.status_code < 500, (method, route, param["name"], bad, reply.text)
                    if reply.status_code >= 400:
                        assert_error_shape(reply)
    assert sent >= 30


def test_headers_used_as_text_carry_surrogate_bytes_without_harm(http, admin):
    # The request id is logged, echoed and passed to every service as text.
    reply = http.post("/api/v1/chat", headers={"Authorization": admin["key"], "X-Request-Id": b"req-\xed\xa0\x80-1"},
                      json={"message": "hello", "model": "fake:fake-model", "use_rag": False})
    assert reply.status_code == 200, reply.text
    assert http.get("/api/v1/me", headers={"Authorization": b"Bearer \xed\xa0\x80"}).status_code == 401


def _multipart(boundary: bytes, parts: list[tuple[bytes, bytes]]) -> bytes:
    out = b""
    for disposition, data in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


@pytest.mark.parametrize("filename", [
    b'filename="notes-\xed\xa0\x80.md"',
    b"filename*=UTF-8''notes-%ED%A0%80.md",
    b'filename="notes-\\ud800.md"',
])
def test_multipart_filenames_and_fields_with_surrogate_bytes_never_get_a_5xx(http, admin, filename):
    boundary = b"b" + uuid.uuid4().hex.encode()
    body = _multipart(boundary, [
        (b'name="files"; ' + filename, b"# Notes\n\nA note about surrogates and lighthouses.\n"),
        (b'name="visibility"', b"private"),
    ])
    reply = http.post("/api/v1/documents", content=body,
                      headers={"Authorization": admin["key"], "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"})
    assert reply.status_code < 500, reply.text
    if reply.status_code != 202:  # `filename*` alone does not make a file part: a 4xx in the one shape
        assert_error_shape(reply)
    else:
        document = reply.json()["documents"][0]
        document["filename"].encode("utf-8")  # valid Unicode (bad bytes replaced or dropped), whatever was sent
        assert wait_for_document(http, {"Authorization": admin["key"]}, document["id"])["status"] == "indexed"
    # A form field with the same bytes is refused by its pattern, not by a crash.
    bad_field = _multipart(boundary, [(b'name="files"; filename="a.md"', b"# A\n\ntext\n"), (b'name="collection"', b"c-\xed\xa0\x80")])
    refused = http.post("/api/v1/documents", content=bad_field,
                        headers={"Authorization": admin["key"], "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"})
    assert 400 <= refused.status_code < 500 and assert_error_shape(refused)


def test_the_grpc_services_refuse_invalid_utf8_and_keep_serving(fleet):
    """A peer that skips the gateway and sends a string field holding surrogate bytes: the
    service answers an error status and goes on answering."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    # Field 2 (a string in every request below) holding the bytes of U+D800.
    payload = b"\x12\x03\xed\xa0\x80"
    methods = {
        fleet.ports.conversation: "/chatbot.conversation.v1.ConversationService/CreateConversation",
        fleet.ports.rag: "/chatbot.rag.v1.RagService/GetDocument",
        fleet.ports.llm: "/chatbot.llm.v1.LlmOrchestrator/CountTokens",
    }
    for port, method in methods.items():
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as refused:
                call(payload, timeout=10)
            # grpcio answers UNKNOWN for a request it cannot parse; what matters is that it answers.
            assert refused.value.code() != grpc.StatusCode.OK, method
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_a_document_whose_text_holds_a_lone_surrogate_is_indexed_with_it_replaced(http, admin):
    """Text extracted from a file is the other way in: the worker must not fail on it (nor hold
    back the documents uploaded with it)."""
    headers = {"Authorization": admin["key"]}
    marker = f"heron{uuid.uuid4().hex[:6]}"
    pdf = make_pdf_with_a_lone_surrogate(f"A {marker} nests Beside the Bay near the old mill on the river.")
    reply = http.post("/api/v1/documents", headers=headers,
                      files=[("files", ("broken-font.pdf", pdf, "application/pdf")), ("files", ("plain.md", f"# Plain\n\n{marker} plain text.\n".encode()))])
    assert reply.status_code == 202, reply.text
    for document in reply.json()["documents"]:
        assert wait_for_document(http, headers, document["id"])["status"] == "indexed", document
    hits = http.post("/api/v1/search", headers=headers, json={"query": f"{marker} nests beside the bay", "top_k": 5}).json()["hits"]
    texts = [h["chunk"]["text"] for h in hits if h["chunk"]["document_id"] == reply.json()["documents"][0]["id"]]
    assert texts and "\ufffd" in texts[0], hits
