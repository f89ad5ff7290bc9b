"""Runs the Celery worker with a gRPC health endpoint beside it."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from celery import signals
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from chatbot_common.metrics import start_metrics_server
from ingest_worker.celery_app import QUEUE, create_app
from ingest_worker.settings import IngestSettings

log = logging.getLogger(__name__)
SERVICE_NAME = "chatbot.ingest.v1.IngestWorker"


def _start_health_server(settings: IngestSettings) -> tuple[grpc.Server, health.HealthServicer]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    for name in ("", SERVICE_NAME):
        servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    server.start()
    log.info("health serving", extra={"grpc_port": port})
    return server, servicer


def run(settings: IngestSettings) -> None:
    app = create_app(settings)
    server, servicer = _start_health_server(settings)
    start_metrics_server(settings.host, settings.metrics_port)

    def mark(status: int) -> None:
        for name in ("", SERVICE_NAME):
            servicer.set(name, status)

    # The worker is healthy once it consumes from the broker, and stops being so as it drains.
    signals.worker_ready.connect(lambda **_: mark(health_pb2.HealthCheckResponse.SERVING), weak=False)
    signals.worker_shutting_down.connect(lambda **_: mark(health_pb2.HealthCheckResponse.NOT_SERVING), weak=False)
    worker = app.Worker(
        queues=[QUEUE],
        concurrency=settings.concurrency,
        pool="prefork" if settings.concurrency > 1 else "solo",
        loglevel=settings.log_level.upper(),
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
    )
    try:
        worker.start()
    finally:
        servicer.enter_graceful_shutdown()
        server.stop(settings.shutdown_grace_seconds)
