"""Secrets and personal data never reach a log line: in the message, in extra fields, or in an
exception's text; ordinary numbers (counts, durations, ports, ids) stay readable."""

from __future__ import annotations

import json
import logging

from chatbot_common.logging import JsonFormatter

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
