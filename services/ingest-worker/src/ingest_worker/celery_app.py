"""The Celery application: broker choice and the delivery guarantees ingestion relies on."""

from __future__ import annotations

from celery import Celery

from ingest_worker.settings import IngestSettings

QUEUE = "ingest"


def create_app(settings: IngestSettings) -> Celery:
    app = Celery("ingest_worker")
    if settings.broker_url:
        app.conf.broker_url = settings.broker_url
    else:
        queue_dir = settings.var_dir / "broker" / "queue"
        processed = settings.var_dir / "broker" / "processed"
        queue_dir.mkdir(parents=True, exist_ok=True)
        processed.mkdir(parents=True, exist_ok=True)
        app.conf.broker_url = "filesystem://"
        app.conf.broker_transport_options = {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "data_folder_processed": str(processed),
        }
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,  # a task is acknowledged only once it finished...
        task_reject_on_worker_lost=True,  # ...and redelivered if its worker died mid-way
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=max(1, settings.task_time_limit_seconds - 10),
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app
