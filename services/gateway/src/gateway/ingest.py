"""Enqueueing ingestion tasks by name (the gateway never imports the worker's code)."""

from __future__ import annotations

import asyncio

from chatbot_common.tasks import QUEUE, TASK_INGEST_DOCUMENT, create_celery
from gateway.settings import GatewaySettings


class IngestQueue:
    def __init__(self, settings: GatewaySettings) -> None:
        self._app = create_celery("gateway", settings.broker_url, settings.var_dir)

    def _send(self, document_id: str, request_id: str) -> None:
        self._app.send_task(TASK_INGEST_DOCUMENT, kwargs={"document_id": document_id, "request_id": request_id},
                            queue=QUEUE, retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})

    async def enqueue(self, document_id: str, request_id: str = "") -> None:
        # Publishing is blocking I/O (a socket or a file): off the event loop.
        await asyncio.to_thread(self._send, document_id, request_id)

    def close(self) -> None:
        self._app.close()
