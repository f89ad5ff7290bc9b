"""Enqueueing ingestion tasks by name (the gateway never imports the worker's code)."""

from __future__ import annotations

import asyncio

from chatbot_common import tracing
from chatbot_common.tasks import MAX_TASK_DOCUMENTS, QUEUE, TASK_INGEST_DOCUMENT, TASK_INGEST_DOCUMENTS, create_celery
from gateway.settings import GatewaySettings


class IngestQueue:
    def __init__(self, settings: GatewaySettings) -> None:
        self._app = create_celery("gateway", settings.broker_url, settings.var_dir)
        tracing.instrument_celery()  # the task carries the upload's trace to the worker
        # What Celery builds on its first send (the task protocol, routes, the result backend
        # it has none of, the producer pool: ~20 ms, imports included), built now rather than
        # during the first upload. No connection is made here.
        amqp = self._app.amqp
        amqp.queues, amqp.router, amqp.producer_pool, self._app.backend, self._app.thread_oid  # noqa: B018

    def _send(self, document_ids: list[str], request_id: str) -> None:
        for first in range(0, len(document_ids), MAX_TASK_DOCUMENTS):
            part = document_ids[first:first + MAX_TASK_DOCUMENTS]
            name, kwargs = ((TASK_INGEST_DOCUMENT, {"document_id": part[0]}) if len(part) == 1
                            else (TASK_INGEST_DOCUMENTS, {"document_ids": part}))
            self._app.send_task(name, kwargs={**kwargs, "request_id": request_id}, queue=QUEUE, retry=True,
                                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})

    async def enqueue(self, document_ids: list[str], request_id: str = "") -> None:
        """Ingestion tasks for these documents: the documents of one upload travel together (up
        to MAX_TASK_DOCUMENTS per task), so the worker claims, embeds and indexes them together."""
        # Publishing is blocking I/O (a socket or a file): off the event loop.
        await asyncio.to_thread(self._send, document_ids, request_id)

    def close(self) -> None:
        self._app.close()
