"""The Celery application: the shared queue configuration plus the delivery guarantees
ingestion relies on, and the tasks themselves."""

from __future__ import annotations

import logging
import threading

import grpc

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from chatbot_common.ids import is_valid_id
from chatbot_common.tasks import (MAX_TASK_DOCUMENTS, QUEUE, TASK_EVALUATE_ANSWER, TASK_INGEST_DOCUMENT, TASK_INGEST_DOCUMENTS,
                                  TASK_PURGE_MESSAGES, create_celery)
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
    if settings.retention_days > 0:
        app.conf.beat_schedule = {
            "purge-messages": {"task": TASK_PURGE_MESSAGES, "schedule": settings.retention_check_seconds,
                               "options": {"queue": QUEUE, "expires": settings.retention_check_seconds}},
        }
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
                from chatbot_common.embedding import embedding_runners
                from chatbot_common.grpc_client import open_sync_channel
                from chatbot.rag.v1 import rag_pb2_grpc
                from ingest_worker.batching import EncodeBatcher
                from ingest_worker.pipeline import Pipeline

                channel = open_sync_channel(self.settings.rag_target)
                blobs = open_blob_store(self.settings.blob_store_path())
                runners = embedding_runners(self.settings.embed_runners, self.settings.embedding)
                encoder = EncodeBatcher(runners, batch_size=self.settings.embed_runner_batch_size)
                self._pipeline = Pipeline(self.settings, rag_pb2_grpc.RagServiceStub(channel), blobs, encoder)
            return self._pipeline


def _document_ids(value) -> list[str]:
    """The well-formed document ids of a task's arguments, each once, in order; anything else
    in a message (which any broker client can publish) is logged and left out."""
    items = value if isinstance(value, (list, tuple)) else [value]
    ids = list(dict.fromkeys(i for i in items if isinstance(i, str) and is_valid_id(i, "doc")))
    if len(ids) != len(items):
        log.warning("malformed document ids left out of an ingestion task", extra={"left_out": len(items) - len(ids)})
    return ids


def register_tasks(app: Celery, settings: IngestSettings) -> _PipelineHolder:
    holder = _PipelineHolder(settings)
    app.pipeline_holder = holder

    @app.task(name=TASK_INGEST_DOCUMENT, bind=True, max_retries=settings.max_attempts - 1)
    def ingest_document(self, document_id: str = "", request_id: str = "") -> list[dict]:
        return ingest(self, [document_id])

    @app.task(name=TASK_INGEST_DOCUMENTS, bind=True, max_retries=settings.max_attempts - 1)
    def ingest_documents(self, document_ids: list[str] = (), request_id: str = "") -> list[dict]:
        return ingest(self, document_ids)

    def ingest(task, document_ids) -> list[dict]:
        from ingest_worker.pipeline import PermanentFailure, Transient

        ids = _document_ids(document_ids)
        final = task.request.retries >= task.max_retries
        # Set by the broker when an unacknowledged delivery came back: its worker is gone.
        redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
        ended: dict = {}
        try:
            # A retry runs every slice again: the documents already ended are skipped at the claim.
            for first in range(0, len(ids), MAX_TASK_DOCUMENTS):
                holder.get().run_many(ids[first:first + MAX_TASK_DOCUMENTS], final_attempt=final, redelivered=redelivered,
                                      outcomes=ended)
        except Transient as exc:
            countdown = settings.retry_backoff_seconds * (2 ** task.request.retries)
            raise task.retry(exc=exc, countdown=countdown) from None
        except PermanentFailure as exc:  # the registry refused the claim itself: nothing was started
            log.warning("ingestion task refused", extra={"reason": str(exc), "documents": len(ids)})
        except SoftTimeLimitExceeded:
            for document_id in ids:
                if document_id not in ended:
                    holder.get().fail(document_id, f"ingestion took longer than {settings.task_time_limit_seconds} s",
                                      retrying=False, timings={}, started=None)
        return [{"document_id": i, "status": ended[i].status if i in ended else "failed",
                 "chunks": ended[i].chunks if i in ended else 0} for i in ids]

    @app.task(name=TASK_PURGE_MESSAGES, autoretry_for=(grpc.RpcError,), retry_backoff=True, max_retries=3)
    def purge_messages() -> dict:
        """Retention: the conversation service deletes messages past the period."""
        from chatbot.conversation.v1 import conversation_pb2, conversation_pb2_grpc
        from chatbot_common.grpc_client import open_sync_channel

        with open_sync_channel(settings.conversation_target) as channel:
            reply = conversation_pb2_grpc.ConversationServiceStub(channel).PurgeMessages(
                conversation_pb2.PurgeMessagesRequest(older_than_seconds=settings.retention_days * 86_400),
                timeout=settings.rag_timeout_seconds)
        log.info("retention purge done", extra={"messages": reply.messages, "conversations": reply.conversations})
        return {"messages": reply.messages, "conversations": reply.conversations}

    evaluation = _EvaluationClients(settings)

    @app.task(name=TASK_EVALUATE_ANSWER, autoretry_for=(grpc.RpcError,), retry_backoff=True, max_retries=2)
    def evaluate_answer(message_id: str = "") -> str:
        """Online evaluation of one sampled answer (ingest_worker.evaluation); idempotent: a
        redelivered task judges again and replaces the scores."""
        from ingest_worker.evaluation import evaluate_answer as judge_answer

        if not is_valid_id(message_id, "msg"):
            log.warning("malformed message id left out of an evaluation task")
            return "skipped"
        encoder = holder.get().embedder
        return judge_answer(message_id, evaluation.stubs(), settings, lambda texts: encoder.encode(list(texts)).tolist())

    return holder


class _EvaluationClients:
    """The channels online evaluation uses (conversation, rag, llm-orchestrator), opened on first use."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self._stubs = None
        self._lock = threading.Lock()

    def stubs(self):
        with self._lock:
            if self._stubs is None:
                from chatbot.conversation.v1 import conversation_pb2_grpc
                from chatbot.llm.v1 import llm_pb2_grpc
                from chatbot.rag.v1 import rag_pb2_grpc
                from chatbot_common.grpc_client import open_sync_channel
                from ingest_worker.evaluation import Stubs

                s = self.settings
                self._stubs = Stubs(conversation_pb2_grpc.ConversationServiceStub(open_sync_channel(s.conversation_target)),
                                    rag_pb2_grpc.RagServiceStub(open_sync_channel(s.rag_target)),
                                    llm_pb2_grpc.LlmOrchestratorStub(open_sync_channel(s.llm_target)))
            return self._stubs
