"""Outbound gRPC: channels with sane options, deadlines on every call, health probes."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatbot_common import tracing
from chatbot_common.grpc_server import MAX_MESSAGE_BYTES


CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.enable_retries", 1),
    ("grpc.lb_policy_name", "round_robin"),
    # A peer that restarts (a rolling update) is found again within a couple of seconds: gRPC's
    # default backoff grows to two minutes, and calls fail fast meanwhile.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def open_channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=tracing.client_interceptors() or None)


def open_sync_channel(target: str) -> grpc.Channel:
    """For code that is not asyncio (Celery tasks)."""
    return tracing.traced_sync_channel(grpc.insecure_channel(target, options=CHANNEL_OPTIONS))


async def check_health(channel: grpc.aio.Channel, service: str = "", timeout: float = 2.0) -> str:
    """'SERVING', 'NOT_SERVING', or why the probe failed ('UNAVAILABLE', ...)."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as exc:
        return exc.code().name if hasattr(exc, "code") else "UNKNOWN"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
