"""Running a gRPC service the same way everywhere: health, reflection, metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chatbot_common import tracing
from chatbot_common.grpc_errors import AppErrorInterceptor
from chatbot_common.metrics import MetricsInterceptor, start_metrics_server
from chatbot_common.settings import GrpcServiceSettings

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass
class GrpcService:
    """What `serve_grpc` needs from a service: how to add itself and what names it serves."""

    full_names: Sequence[str]
    register: Callable[[grpc.aio.Server], None]
    # Reports whether the service's own dependencies (a database, a model) are usable.
    readiness: Callable[[], Awaitable[bool]] | None = None
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def server_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


async def _watch_readiness(
    service: GrpcService, health_servicer: health.aio.HealthServicer, every: float, stop: asyncio.Event
) -> None:
    last: bool | None = None
    while not stop.is_set():
        try:
            ok = await service.readiness() if service.readiness else True
        except Exception:  # a failing probe means not ready, never a crashed server
            log.warning("readiness probe failed", exc_info=True)
            ok = False
        if ok != last:
            status = SERVING if ok else NOT_SERVING
            await health_servicer.set("", status)
            for name in service.full_names:
                await health_servicer.set(name, status)
            last = ok
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    watcher: asyncio.Task
    service: GrpcService
    watcher_stop: asyncio.Event

    async def stop(self, grace: float) -> None:
        # Let the probe finish its current check instead of cancelling it mid-query: a database
        # driver cancelled half-way through a connect can hang the loop's shutdown.
        self.watcher_stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.watcher), timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            self.watcher.cancel()
        # Tell load balancers first, then let in-flight streams finish.
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for hook in self.service.on_shutdown:
            await hook()


async def start_grpc(service: GrpcService, settings: GrpcServiceSettings, readiness_interval: float = 2.0) -> RunningServer:
    """Starts a service's server (with health, reflection and metrics) and returns at once."""
    server = grpc.aio.server(
        interceptors=[MetricsInterceptor(), *tracing.server_interceptors(), AppErrorInterceptor()],
        options=server_options(),
        maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
    )
    service.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service.full_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    for name in ("", *service.full_names):
        await health_servicer.set(name, NOT_SERVING)  # known but not ready until the first probe passes
    await server.start()
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_readiness(service, health_servicer, readiness_interval, stop))
    return RunningServer(server, health_servicer, port, watcher, service, stop)


async def serve_grpc(service: GrpcService, settings: GrpcServiceSettings) -> None:
    """Serves until SIGTERM/SIGINT, then drains in-flight RPCs for the grace period."""
    running = await start_grpc(service, settings)
    start_metrics_server(settings.host, settings.metrics_port)
    log.info("serving", extra={"grpc_port": running.port, "services": list(service.full_names)})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    await running.stop(settings.shutdown_grace_seconds)
    log.info("stopped")
