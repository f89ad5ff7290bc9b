"""Pure ASGI middleware (cheap on streaming responses): request ids, body size limit, metrics,
security headers."""

from __future__ import annotations

import time
import uuid

import orjson
from prometheus_client import Counter, Histogram

from chatbot_common import tracing
from chatbot_common.errors import AppError, ErrorCode
from gateway.limits.limiter import rate_headers
from gateway.unicode_input import TAIL_BYTES, is_json_body, lone_surrogate_field, may_hold_lone_surrogate, not_unicode

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "Time to the response headers", ["method", "route"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def route_template(scope: dict) -> str:
    """The matched route's full path template ("/api/v1/conversations/{conversation_id}"), one
    label per route whatever the ids. FastAPI keeps an included router's routes as declared, so
    `route.path` lacks the prefixes it was included under: they are the part of the request path
    before the route's own path with its parameters filled in."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    path, params = scope.get("path", ""), scope.get("path_params") or {}
    try:
        rendered = getattr(route, "path_format", template).format(**{k: str(v) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return template
    return path[: len(path) - len(rendered)] + template if path.endswith(rendered) else template


# Every response: no sniffing, no framing, no referrer, and a CSP that allows nothing (JSON and
# SSE need nothing). The API docs page loads Swagger UI's script and style from its CDN.
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# Pages (the web app, the API docs) set their own CSP (gateway.webapp); everything else is data.
_CSP_API = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NO_STORE = (b"cache-control", b"no-store")


def security_headers(tls: bool, existing: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in existing}
    extra = [h for h in _SECURITY_HEADERS if h[0] not in present]
    if b"content-security-policy" not in present:
        extra.append((b"content-security-policy", _CSP_API))
    if b"cache-control" not in present:
        extra.append(_NO_STORE)  # API answers (tokens among them) are for their caller only
    if tls and _HSTS[0] not in present:
        extra.append(_HSTS)
    return extra


_NUL = AppError(ErrorCode.VALIDATION_ERROR, "NUL characters are not accepted")


def _too_large(limit: int) -> AppError:
    return AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"request body over {limit} bytes")


class GatewayMiddleware:
    def __init__(
        self, app, max_body_bytes: int, upload_body_bytes: int = 0, upload_prefix: str = "/api/v1/documents", hsts: str = "auto",
    ) -> None:
        self.app = app
        self.hsts = hsts  # auto: under TLS only; always: behind a TLS-terminating proxy; off
        self.max_body_bytes = max_body_bytes
        # Uploads may be larger than other requests; each file's own limit is checked by the route.
        self.upload_body_bytes = max(upload_body_bytes, max_body_bytes)
        self.upload_prefix = upload_prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The first of repeated headers, as Starlette reads them (dict() would keep the last, and
        # a second Content-Type would then let a JSON body past the checks below).
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers") or ():
            headers.setdefault(name, value)
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        limit = self.upload_body_bytes if scope["path"].startswith(self.upload_prefix) else self.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._reject(send, request_id, _too_large(limit))
            return
        # NUL has no place in text, and PostgreSQL refuses it: a clear 400 here, not a 500 later.
        if b"%00" in scope.get("query_string", b""):
            await self._reject(send, request_id, _NUL)
            return
        json_body = is_json_body(headers.get(b"content-type"))
        received = 0
        tail = b""
        # A JSON body's chunks, read again whole only when one may hold a lone surrogate.
        chunks: list[bytes] = []
        suspect = False
        answered = False  # set once this middleware has answered itself

        async def limited_receive():
            nonlocal received, answered, tail, suspect
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                first = received == 0
                received += len(body)
                error = None
                if received > limit:
                    error = _too_large(limit)
                elif json_body and body:
                    if b"\\u0000" in tail + body:
                        error = _NUL
                    suspect = suspect or may_hold_lone_surrogate(tail + body, first)
                    chunks.append(body)
                    tail = (tail + body)[-TAIL_BYTES:]  # chunks may be shorter than a pattern
                if error is None and suspect and not message.get("more_body", False):
                    # The whole body is here and nothing has read it yet (the app gets this
                    # chunk only after the check), so a refusal still comes first.
                    field = lone_surrogate_field(b"".join(chunks))
                    if field is not None:
                        error = not_unicode(field)
                if error is not None and not answered:
                    # Answer now and tell the app the client is gone, so it stops reading (and
                    # its own reply is dropped).
                    answered = True
                    await self._reject(send, request_id, error)
                    return {"type": "http.disconnect"}
            return message

        started = time.perf_counter()
        method = scope["method"]

        async def send_wrapper(message) -> None:
            if answered:
                return
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                tls = self.hsts == "always" or (self.hsts == "auto" and scope.get("scheme") == "https")
                message["headers"] = [*headers, (b"x-request-id", request_id.encode("latin-1")),
                                      *security_headers(tls, headers)]
                if trace_id := tracing.current_trace_id():  # the request's trace, to quote to support
                    message["headers"].append((b"x-trace-id", trace_id.encode("ascii")))
                decision = state.get("ratelimit")
                if decision is not None:
                    message["headers"] += rate_headers(decision)
                template = route_template(scope)
                HTTP_REQUESTS.labels(method, template, str(message["status"])).inc()
                HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, limited_receive, send_wrapper)

    async def _reject(self, send, request_id: str, error: AppError) -> None:
        body = orjson.dumps(error.to_body())
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"x-request-id", request_id.encode("latin-1"))]
        await send({"type": "http.response.start", "status": error.spec.http_status,
                    "headers": [*headers, *security_headers(False, headers)]})
        await send({"type": "http.response.body", "body": body})
