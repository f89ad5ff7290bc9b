"""Prometheus metrics for gRPC servers, defined once for every service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Gauge, Histogram, start_http_server

GRPC_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server", ["grpc_service", "grpc_method", "grpc_code"]
)
GRPC_LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time to complete an RPC (for streams: until the last message)",
    ["grpc_service", "grpc_method"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

# RPCs being served right now: for a streaming method, the streams open (the orchestrator's
# Generate is what its autoscaler follows, through the Prometheus adapter).
GRPC_ACTIVE = Gauge("grpc_server_active_rpcs", "RPCs in progress on the server", ["grpc_service", "grpc_method"])


def start_metrics_server(host: str, port: int) -> None:
    if port:
        start_http_server(port, addr=host)


def _split(method: str) -> tuple[str, str]:
    _, service, name = method.split("/", 2) if method.count("/") >= 2 else ("", "unknown", method)
    return service, name


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC by final status code, streaming ones included."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, method = _split(handler_call_details.method)
        if service.startswith("grpc."):
            return handler  # health and reflection would drown the real traffic
        active = GRPC_ACTIVE.labels(service, method)

        def record(context: Any, started: float) -> None:
            code = context.code() if hasattr(context, "code") else None
            name = code.name if isinstance(code, grpc.StatusCode) else "OK"
            GRPC_HANDLED.labels(service, method, name).inc()
            GRPC_LATENCY.labels(service, method).observe(time.perf_counter() - started)

        if handler.unary_unary:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                started = time.perf_counter()
                active.inc()
                try:
                    return await inner_uu(request, context)
                finally:
                    active.dec()
                    record(context, started)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            inner_us = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> Any:
                started = time.perf_counter()
                active.inc()
                try:
                    async for item in inner_us(request, context):
                        yield item
                finally:
                    active.dec()
                    record(context, started)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler
