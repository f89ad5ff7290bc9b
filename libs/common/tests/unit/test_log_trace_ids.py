"""A log line written inside a traced request carries the trace and span ids (so a line and its
trace are found from each other), and one written outside carries none."""

from __future__ import annotations

import logging

import orjson

from chatbot_common import tracing
from chatbot_common.logging import JsonFormatter


def test_log_lines_carry_the_current_trace(tmp_path):
    formatter = JsonFormatter("test")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "outside", None, None)
    assert "trace_id" not in orjson.loads(formatter.format(record))
    assert tracing.configure_tracing("test", tmp_path / "spans.jsonl")
    try:
        with tracing.tracer("test").start_as_current_span("request") as span:
            line = orjson.loads(formatter.format(logging.LogRecord("t", logging.INFO, __file__, 1, "inside", None, None)))
            context = span.get_span_context()
            current = tracing.current_trace_id()
        assert line["trace_id"] == format(context.trace_id, "032x") == current
        assert line["span_id"] == format(context.span_id, "016x")
    finally:
        tracing.shutdown_tracing()
        tracing._enabled = False
