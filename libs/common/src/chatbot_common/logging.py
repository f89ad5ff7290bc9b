"""Structured logging: one JSON object per line, secrets scrubbed before they are written."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson

from chatbot_common.guardrails.redaction import LOG_RULES, Redactor

# Values that must never reach a log line even if a caller passes them by mistake.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(sk-(?:proj-|ant-)?)[A-Za-z0-9_-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    re.compile(r"(?i)((?:password|api_key|apikey|secret|token)\s*[=:]\s*)[^\s,;\"']+"),
]


_PII = Redactor(rules=LOG_RULES, links=False, strict_ids=False)


def scrub(text: str) -> str:
    """Secrets (bearer tokens, keys, passwords in key=value form) and personal data (e-mail
    addresses, card numbers, IBANs, national ids, international phone numbers) out of a log line.
    The fleet's own identifiers (prefixed ids, UUIDs, trace and span ids, hex digests) are never
    touched, so an operator can still search for them (see `redaction._FLEET_IDS`)."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
        else:
            text = pattern.sub("[REDACTED]", text)
    return _PII.redact(text)[0]


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        from chatbot_common.tracing import current_ids  # (tracing imports this module)

        trace_id, span_id = current_ids()
        if trace_id:  # the line and the request's trace, found from each other
            entry["trace_id"], entry["span_id"] = trace_id, span_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure_logging(service: str, level: str = "info", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(PlainFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries log request lines that can carry keys in URLs or headers (httpx2, under
    # the mcp SDK, logs every MCP request's URL, which hosted MCP servers put a token in), and
    # the mcp SDK logs its session ids.
    for noisy in ("httpx", "httpx2", "httpcore", "mcp", "openai", "anthropic", "grpc", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
