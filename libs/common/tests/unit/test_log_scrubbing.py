"""Secrets and personal data never reach a log line: in the message, in extra fields, or in an
exception's text; ordinary numbers (counts, durations, ports) stay readable and the fleet's own
identifiers (ids, trace and span ids, hashes) are never touched."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot_common.ids import new_id
from chatbot_common.logging import JsonFormatter, scrub

VECTORS = ["alice.smith@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "DE89370400440532013000", "078-05-1120",
           "sk-proj-abcdefghijklmnop1234", "cbk_0123456789abcdef0123456789abcdef_" + "Q" * 43]


def line(msg: str, *args, exc: BaseException | None = None, **extra) -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, (type(exc), exc, None) if exc else None)
    record.__dict__.update(extra)
    return JsonFormatter("test").format(record)


def test_personal_data_and_secrets_are_scrubbed_everywhere_in_a_record():
    for vector in VECTORS:
        try:
            raise ValueError(f"could not parse {vector}")
        except ValueError as exc:
            text = line("user said %s", vector, exc=exc, detail=f"value={vector}", nested=vector)
        assert vector not in text, (vector, text)
        assert "REDACTED" in json.loads(text)["msg"]


def test_ordinary_numbers_stay():
    text = line("deleted %s: %d points in %d ns on port %d", "doc_0a1b2c3d4e5f60718293a4b5c6d7e8f9", 123456789, 1234567890, 43123)
    assert json.loads(text)["msg"] == "deleted doc_0a1b2c3d4e5f60718293a4b5c6d7e8f9: 123456789 points in 1234567890 ns on port 43123"


# --- The fleet's own identifiers ------------------------------------------------------------------

_HEX = "0123456789abcdef"
_PREFIXES = ("doc", "msg", "usr", "conv", "key")


def test_a_document_id_whose_digits_pass_the_luhn_check_is_left_alone():
    """Seen on main: `doc_e4111111111111111aaaaaaaaaaaaaaa` logged as `doc_e[CARD REDACTED]…`."""
    document_id = "doc_e" + "4111111111111111" + "a" * 15
    assert scrub(f"indexed {document_id} in 12 ms") == f"indexed {document_id} in 12 ms"
    assert json.loads(line("deleted %s", document_id, document_id=document_id))["msg"] == f"deleted {document_id}"


fleet_ids = st.one_of(
    st.builds(lambda p, body: f"{p}_{body}", st.sampled_from(_PREFIXES), st.text(_HEX, min_size=32, max_size=32)),
    st.builds(lambda body: f"chatcmpl-{body}", st.text(_HEX, min_size=32, max_size=32)),
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex).map(lambda h: f"trace_id={h}"),
    st.text(_HEX, min_size=16, max_size=16).map(lambda h: f"span_id={h}"),
    st.text(_HEX, min_size=32, max_size=32).map(lambda h: f'"request_id": "{h}"'),
    st.builds(lambda t, s: f"traceparent=00-{t}-{s}-01", st.text(_HEX, min_size=32, max_size=32), st.text(_HEX, min_size=16, max_size=16)),
    st.binary(max_size=64).map(lambda b: hashlib.sha256(b).hexdigest()),
    st.binary(max_size=64).map(lambda b: hashlib.sha1(b).hexdigest()),
    # a bare trace or span id: hex with at least one letter (an all-digit run may be a card number)
    st.text(_HEX, min_size=16, max_size=64).filter(lambda h: any(c in "abcdef" for c in h)),
)


@settings(max_examples=600, deadline=None)
@given(ids=st.lists(fleet_ids, min_size=1, max_size=4), sep=st.sampled_from([" ", ", ", " / ", "\n", "=", ":", " -> "]))
def test_property_the_fleets_ids_are_never_altered(ids, sep):
    text = "ids " + sep.join(ids) + " done"
    assert scrub(text) == text


def test_ids_the_fleet_makes_are_never_altered():
    for _ in range(3000):
        ids = [new_id(p) for p in _PREFIXES] + [str(uuid.uuid4()), uuid.uuid4().hex, f"span_id={uuid.uuid4().hex[:16]}"]
        text = "ids " + " ".join(ids)
        assert scrub(text) == text


def test_personal_data_next_to_ids_is_still_scrubbed():
    user, document = new_id("usr"), new_id("doc")
    text = scrub(f"user {user} uploaded {document} with card 4111 1111 1111 1111, phone +44 20 7946 0958, mail a.b@example.com")
    assert user in text and document in text
    assert "4111" not in text and "7946" not in text and "a.b@example.com" not in text
    # an API key is a secret even though its first part looks like an id
    key = "cbk_" + uuid.uuid4().hex + "_" + "Q" * 43
    assert key[:20] not in scrub(f"key {key} used")


def test_national_ids_are_scrubbed_but_bare_counts_stay():
    for value in ("AB 12 34 56 C", "36 574 261 809", "2 95 10 99 126 111 93", "54362315-K", "X-2482300-W", "RCCMNL83S18D969H",
                  "1112.22.333", "2341 2341 2346"):
        assert value not in scrub(f"user said {value}"), value
    # a bare digit run is a number unless a word says it is an identifier
    assert scrub("processed 111222333 rows in 234123412346 ns") == "processed 111222333 rows in 234123412346 ns"
    assert "111222333" not in scrub("BSN 111222333 given") and "36574261809" not in scrub("Steuer-IdNr: 36574261809")


def test_client_libraries_that_log_urls_or_session_ids_are_quiet_at_info():
    """httpx2 (under the mcp SDK) logs each MCP request's URL at INFO, and hosted MCP servers
    carry their token in it (https://mcp.example.com/s/<token>/mcp); the SDK logs session ids."""
    from chatbot_common.logging import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = ("httpx", "httpx2", "mcp", "mcp.client.streamable_http")
    before = {name: logging.getLogger(name).level for name in quiet}
    try:
        configure_logging("test", "info")
        for name in quiet:
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in before.items():
            logging.getLogger(name).setLevel(was)
