"""Runs the Celery worker with a gRPC health endpoint and the stale-document reaper beside it."""

from __future__ import annotations

import logging
import threading
from concurrent import futures

import grpc
from celery import Celery, signals
from celery.beat import EmbeddedService
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from chatbot.rag.v1 import rag_pb2 as rag_pb
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.grpc_client import open_sync_channel
from chatbot_common.metrics import start_metrics_server
from chatbot_common.tasks import TASK_INGEST_DOCUMENT
from ingest_worker.celery_app import QUEUE, create_app
from ingest_worker.heartbeat import heartbeat_step
from ingest_worker.telemetry import QueueSampler, watch_tasks
from ingest_worker.settings import IngestSettings

log = logging.getLogger(__name__)


def _start_health_server(settings: IngestSettings) -> tuple[grpc.Server, health.HealthServicer]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    # The worker serves no gRPC API, so its health is the server's (the empty service name),
    # which is what the Kubernetes probes and the gateway's /ready ask for.
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    server.start()
    log.info("health serving", extra={"grpc_port": port})
    return server, servicer


class Reaper(threading.Thread):
    """Finds documents left `processing` by a worker that died (past the task time limit) and
    enqueues them again, or fails them once out of attempts. The registry flips each document
    exactly once, so several workers reaping at the same time do not enqueue twice."""

    def __init__(self, app: Celery, settings: IngestSettings) -> None:
        super().__init__(name="reaper", daemon=True)
        self.app = app
        self.settings = settings
        self.stopped = threading.Event()

    def run(self) -> None:
        stub = rag_pb2_grpc.RagServiceStub(open_sync_channel(self.settings.rag_target))
        while not self.stopped.wait(self.settings.reap_interval_seconds):
            try:
                reply = stub.ReapStale(rag_pb.ReapStaleRequest(
                    time_limit_seconds=self.settings.task_time_limit_seconds, max_attempts=self.settings.max_attempts),
                    timeout=self.settings.rag_timeout_seconds)
            except grpc.RpcError as exc:
                log.debug("reaper could not reach the rag service", extra={"code": exc.code().name})
                continue
            for document_id in reply.requeue_document_ids:
                self.app.send_task(TASK_INGEST_DOCUMENT, kwargs={"document_id": document_id}, queue=QUEUE)
                log.warning("stale document enqueued again", extra={"document_id": document_id})


def run(settings: IngestSettings) -> None:
    app = create_app(settings)
    server, servicer = _start_health_server(settings)
    start_metrics_server(settings.host, settings.metrics_port)
    reaper = Reaper(app, settings)
    watch_tasks()
    sampler = QueueSampler(app, QUEUE, settings.queue_sample_seconds)

    def mark(status: int) -> None:
        servicer.set("", status)

    def on_ready(**_) -> None:
        # The embedding model loaded and the parsers warmed before the first task arrives.
        app.pipeline_holder.get().warm_up()
        reaper.start()
        sampler.start()
        mark(health_pb2.HealthCheckResponse.SERVING)

    # The worker is healthy once it consumes from the broker, and stops being so as it drains.
    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(lambda **_: mark(health_pb2.HealthCheckResponse.NOT_SERVING), weak=False)
    app.steps["consumer"].add(heartbeat_step(settings.heartbeat_file, settings.heartbeat_interval_seconds))
    worker = app.Worker(
        queues=[QUEUE],
        concurrency=settings.concurrency,
        # Threads share one embedding model (coalesced batches); a document's I/O overlaps
        # another's encoding. One process: the model is loaded once.
        pool="threads" if settings.concurrency > 1 else "solo",
        loglevel=settings.log_level.upper(),
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
    )
    # Celery beat inside this worker, as a thread (Celery's own embedded beat forks, and a fork
    # of a process that already runs gRPC breaks the child): the retention purge's schedule.
    beat = None
    if settings.run_beat and settings.retention_days > 0:
        beat = EmbeddedService(app, thread=True, schedule_filename=str(settings.var_dir / "celerybeat-schedule"))
        beat.start()
    try:
        worker.start()
    finally:
        if beat is not None:
            beat.stop()
        reaper.stopped.set()
        sampler.stopped.set()
        servicer.enter_graceful_shutdown()
        server.stop(settings.shutdown_grace_seconds)
