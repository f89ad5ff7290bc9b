"""The worker's Prometheus metrics: each task's outcome and duration (from Celery's signals) and
the broker's backlog (sampled by a thread), what the ingestion alerts and the KEDA trigger watch."""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery, signals
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

TASKS = Counter("ingest_tasks_total", "Tasks finished by the worker, by task and outcome", ["task", "outcome"])
TASK_SECONDS = Histogram("ingest_task_seconds", "Time a task ran", ["task"],
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
QUEUE_DEPTH = Gauge("ingest_queue_depth", "Tasks waiting in the broker's queue (sampled)", ["queue"])
QUEUE_SAMPLED = Gauge("ingest_queue_sampled_timestamp_seconds", "When the queue depth was last read", ["queue"])


def watch_tasks() -> None:
    """Counts and times every task from Celery's signals (in the thread that runs the task)."""
    started: dict[str, float] = {}

    def prerun(task_id=None, **_) -> None:
        started[task_id] = time.perf_counter()

    def postrun(task_id=None, task=None, state=None, **_) -> None:
        began = started.pop(task_id, None)
        name = getattr(task, "name", "unknown")
        TASKS.labels(name, (state or "unknown").lower()).inc()
        if began is not None:
            TASK_SECONDS.labels(name).observe(time.perf_counter() - began)

    signals.task_prerun.connect(prerun, weak=False)
    signals.task_postrun.connect(postrun, weak=False)


class QueueSampler(threading.Thread):
    """Reads the queue's length from the broker every `interval` seconds (a passive declare:
    Redis, RabbitMQ and the filesystem transport all answer it)."""

    def __init__(self, app: Celery, queue: str, interval: float) -> None:
        super().__init__(name="queue-sampler", daemon=True)
        self.app, self.queue, self.interval = app, queue, interval
        self.stopped = threading.Event()

    def sample(self) -> int:
        with self.app.connection_for_read() as connection:
            return connection.default_channel.queue_declare(queue=self.queue, passive=True).message_count

    def run(self) -> None:
        while True:
            try:
                QUEUE_DEPTH.labels(self.queue).set(self.sample())
                QUEUE_SAMPLED.labels(self.queue).set(time.time())
            except Exception as exc:  # noqa: BLE001 - a broker hiccup leaves the last figure (and its timestamp) as it was
                log.debug("queue depth unavailable", extra={"error": type(exc).__name__})
            if self.stopped.wait(self.interval):
                return

# Online evaluation (ingest_worker.evaluation): the judge's scores of sampled answers, per tenant
# and answering model, and each evaluation's outcome.
EVALUATION_SCORE = Histogram("rag_evaluation_score", "Online evaluation: a judged answer's score, by metric, tenant and model",
                             ["metric", "tenant", "model"], buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
EVALUATIONS = Counter("rag_evaluations_total", "Online evaluations by outcome (done, failed: the judge gave no score, skipped)",
                      ["outcome"])
