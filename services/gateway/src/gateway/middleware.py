"""Pure ASGI middleware (cheap on streaming responses): request ids, body size limit, metrics."""

from __future__ import annotations

import time
import uuid

import orjson
from prometheus_client import Counter, Histogram

from chatbot_common.errors import AppError, ErrorCode

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "Time to the response headers", ["method", "route"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class GatewayMiddleware:
    def __init__(self, app, max_body_bytes: int, upload_body_bytes: int = 0, upload_prefix: str = "/api/v1/documents") -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Uploads may be larger than other requests; each file's own limit is checked by the route.
        self.upload_body_bytes = max(upload_body_bytes, max_body_bytes)
        self.upload_prefix = upload_prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        limit = self.upload_body_bytes if scope["path"].startswith(self.upload_prefix) else self.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._reject(send, request_id, limit)
            return
        received = 0
        answered = False  # set once this middleware has sent the 413 itself

        async def limited_receive():
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not answered:
                    # A chunked body ran past the limit: answer 413 now and tell the app the
                    # client is gone, so it stops reading (and its own reply is dropped).
                    answered = True
                    await self._reject(send, request_id, limit)
                    return {"type": "http.disconnect"}
            return message

        started = time.perf_counter()
        method = scope["method"]

        async def send_wrapper(message) -> None:
            if answered:
                return
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
                route = scope.get("route")
                template = getattr(route, "path", "unmatched")
                HTTP_REQUESTS.labels(method, template, str(message["status"])).inc()
                HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, limited_receive, send_wrapper)

    async def _reject(self, send, request_id: str, limit: int) -> None:
        body = orjson.dumps(AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"request body over {limit} bytes").to_body())
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"x-request-id", request_id.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": body})
