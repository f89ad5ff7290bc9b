"""A file the worker touches from its consumer loop, for Kubernetes' liveness probe.

The gRPC health endpoint answers from its own threads, so it stays SERVING even when the Celery
consumer is wedged (a broker connection stuck, the event loop blocked). This step rides on the
consumer: with the Redis and AMQP transports its timer runs inside the consumer's event loop, so
the file goes stale exactly when the loop stops turning, and the probe restarts the pod:

    python -m ingest_worker alive      # exit 0 if the heartbeat file is fresh
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import bootsteps


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path)


def is_fresh(path: Path, max_age_seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime <= max_age_seconds
    except FileNotFoundError:
        return False


def heartbeat_step(path: Path, interval_seconds: float) -> type[bootsteps.StartStopStep]:
    """A consumer bootstep that touches `path` every `interval_seconds` while the consumer runs,
    and removes it when the consumer stops (a draining worker is not alive for new work)."""

    class Heartbeat(bootsteps.StartStopStep):
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def __init__(self, parent, **kwargs) -> None:
            super().__init__(parent, **kwargs)
            self.entry = None

        def start(self, parent) -> None:
            touch(path)
            self.entry = parent.timer.call_repeatedly(interval_seconds, touch, (path,), priority=10)

        def stop(self, parent) -> None:
            if self.entry is not None:
                self.entry.cancel()
                self.entry = None
            path.unlink(missing_ok=True)

        shutdown = stop

    return Heartbeat
