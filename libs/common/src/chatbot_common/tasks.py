"""The ingestion queue as both sides see it: the broker choice, the delivery guarantees and
the task names. The gateway enqueues by name; only the worker imports the task code.

Broker: `redis://…` or `amqp://…` by configuration; the embedded default is kombu's filesystem
transport under `var/broker`, which needs no server and works across processes on one machine.
"""

from __future__ import annotations

from pathlib import Path

from celery import Celery

QUEUE = "ingest"
TASK_INGEST_DOCUMENT = "ingest.document"
TASK_REAP_STALE = "ingest.reap_stale"


def broker_config(broker_url: str, var_dir: Path, visibility_timeout: float) -> dict:
    if broker_url:
        options: dict = {}
        if broker_url.startswith(("redis://", "rediss://")):
            # A message taken by a worker that died comes back after this long.
            options = {"visibility_timeout": visibility_timeout}
        return {"broker_url": broker_url, "broker_transport_options": options}
    queue_dir = var_dir / "broker" / "queue"
    processed = var_dir / "broker" / "processed"
    queue_dir.mkdir(parents=True, exist_ok=True)
    processed.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "data_folder_processed": str(processed),
        },
    }


def create_celery(name: str, broker_url: str, var_dir: Path, *, task_time_limit: float = 600) -> Celery:
    app = Celery(name)
    app.conf.update(broker_config(broker_url, var_dir, visibility_timeout=task_time_limit + 60))
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        worker_hijack_root_logger=False,
    )
    return app
