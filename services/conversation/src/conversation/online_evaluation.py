"""Online evaluation, the sampling side: after a grounded answer is stored, a share of them (the
tenant's, `TenantEvaluationPolicy`) is handed to the ingest-worker as a Celery task that judges
it and stores the scores back here (`RecordEvaluation`).

Never on the turn's path: the turn calls `after_answer` and moves on; reading the share and
publishing happen in a task of their own (publishing is blocking I/O, on a thread), and any
failure there is counted and logged, never raised into a turn. Why a Celery task here, when
summaries run in this process (conversation.summaries): judging is several model calls plus the
embedding model, which the worker already holds, and it may take minutes on the embedded model;
a lost task costs one sample, nothing a later turn must redo.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Protocol

from prometheus_client import Counter

from chatbot_common.tasks import QUEUE, TASK_EVALUATE_ANSWER, create_celery
from conversation.evaluation_store import EvaluationStore
from conversation.models import Message
from conversation.settings import ConversationSettings

log = logging.getLogger(__name__)

SAMPLED = Counter("conversation_evaluations_sampled_total", "Grounded answers considered for online evaluation, by outcome",
                  ["outcome"])
JUDGED_FINISHES = ("stop", "length")


class EvaluationQueue(Protocol):
    def send(self, message_id: str) -> None: ...

    def close(self) -> None: ...


class CeleryEvaluationQueue:
    """Publishes evaluation tasks by name on the worker's queue (this service never imports the
    worker's code)."""

    def __init__(self, settings: ConversationSettings) -> None:
        self._app = create_celery("conversation", settings.broker_url, settings.var_dir)

    def send(self, message_id: str) -> None:
        self._app.send_task(TASK_EVALUATE_ANSWER, kwargs={"message_id": message_id}, queue=QUEUE, retry=True,
                            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})

    def close(self) -> None:
        self._app.close()


class OnlineEvaluation:
    def __init__(self, store: EvaluationStore, queue: EvaluationQueue, draw: Callable[[], float] = random.random) -> None:
        self.store = store
        self._queue = queue
        self._draw = draw
        self._pending: set[asyncio.Task] = set()

    def after_answer(self, answer: Message | None, tenant_id: str) -> None:
        """A stored answer: sampled in the background when it is grounded and complete."""
        if answer is None or not answer.citations or not answer.content or answer.finish_reason not in JUDGED_FINISHES:
            return
        task = asyncio.get_running_loop().create_task(self._sample(answer.id, tenant_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _sample(self, message_id: str, tenant_id: str) -> None:
        try:
            share = await self.store.share(tenant_id)
            if share <= 0 or self._draw() >= share:
                SAMPLED.labels("skipped").inc()
                return
            await asyncio.to_thread(self._queue.send, message_id)
            SAMPLED.labels("enqueued").inc()
        except Exception as exc:  # the broker or the database is down: one sample lost, nothing else
            SAMPLED.labels("failed").inc()
            log.warning("online evaluation not enqueued", extra={"message_id": message_id, "error": type(exc).__name__})

    async def idle(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        await self.idle()
        self._queue.close()
