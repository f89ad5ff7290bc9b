"""The Celery application: the shared queue configuration plus the delivery guarantees
ingestion relies on, and the tasks themselves."""

from __future__ import annotations

import logging
import threading

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from chatbot_common.tasks import QUEUE, TASK_INGEST_DOCUMENT, create_celery
from ingest_worker.settings import IngestSettings

log = logging.getLogger(__name__)
__all__ = ["QUEUE", "create_app"]


def create_app(settings: IngestSettings) -> Celery:
    app = create_celery("ingest_worker", settings.broker_url, settings.var_dir,
                        task_time_limit=settings.task_time_limit_seconds)
    app.conf.update(
        task_acks_late=True,  # a task is acknowledged only once it finished...
        task_reject_on_worker_lost=True,  # ...and redelivered if its worker died mid-way
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=max(1, settings.task_time_limit_seconds - 5),
    )
    register_tasks(app, settings)
    return app


class _PipelineHolder:
    """One pipeline (one embedding model) per worker process, built on first use."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self._pipeline = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._pipeline is None:
                from chatbot_common.blobstore import open_blob_store
                from chatbot_common.embedding import get_embedder
                from chatbot_common.grpc_client import open_sync_channel
                from chatbot.rag.v1 import rag_pb2_grpc
                from ingest_worker.batching import EncodeBatcher
                from ingest_worker.pipeline import Pipeline

                channel = open_sync_channel(self.settings.rag_target)
                blobs = open_blob_store(self.settings.blob_store or self.settings.var_dir / "blobs")
                encoder = EncodeBatcher(get_embedder(), max_batch=max(self.settings.embed_batch_size, 64))
                self._pipeline = Pipeline(self.settings, rag_pb2_grpc.RagServiceStub(channel), blobs, encoder)
            return self._pipeline


def register_tasks(app: Celery, settings: IngestSettings) -> _PipelineHolder:
    holder = _PipelineHolder(settings)
    app.pipeline_holder = holder

    @app.task(name=TASK_INGEST_DOCUMENT, bind=True, max_retries=settings.max_attempts - 1)
    def ingest_document(self, document_id: str, request_id: str = "") -> dict:
        from ingest_worker.pipeline import Transient

        final = self.request.retries >= self.max_retries
        # Set by the broker when an unacknowledged delivery came back: its worker is gone.
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        try:
            outcome = holder.get().run(document_id, final_attempt=final, redelivered=redelivered)
        except Transient as exc:
            countdown = settings.retry_backoff_seconds * (2 ** self.request.retries)
            raise self.retry(exc=exc, countdown=countdown) from None
        except SoftTimeLimitExceeded:
            holder.get().fail(document_id, f"ingestion took longer than {settings.task_time_limit_seconds} s",
                               retrying=False, timings={}, started=None)
            return {"document_id": document_id, "status": "failed"}
        return {"document_id": document_id, "status": outcome.status, "chunks": outcome.chunks}

    return holder
