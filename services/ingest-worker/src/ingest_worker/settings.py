from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import AlsoFrom, BlobStoreSettings, BrokerSettings, EmbeddingSettings, GrpcServiceSettings


class IngestSettings(GrpcServiceSettings, BrokerSettings, BlobStoreSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    # gRPC here only answers health checks (Kubernetes probes, the gateway's /ready).
    grpc_port: int = Field(50054, ge=0, le=65535)
    # Documents in flight in this worker process (threads sharing one embedding model).
    concurrency: int = Field(8, ge=1, le=64)
    task_time_limit_seconds: int = Field(600, ge=5)
    max_attempts: int = Field(3, ge=1, le=20)
    retry_backoff_seconds: float = Field(5.0, ge=0)
    # How often this worker looks for documents whose worker died mid-task.
    reap_interval_seconds: float = Field(30.0, ge=1)
    rag_target: str = "127.0.0.1:50053"
    # Retention (Celery beat, embedded in the worker): messages older than this are deleted by
    # the conversation service. 0 keeps them forever. Fractions of a day are allowed.
    retention_days: Annotated[float, AlsoFrom("RETENTION_DAYS")] = Field(365.0, ge=0)
    retention_check_seconds: float = Field(3600.0, ge=0.5)
    run_beat: bool = True  # off on all but one replica when several run (the purge is idempotent either way)
    # Touched from the consumer loop (`heartbeat.py`); `python -m ingest_worker alive` checks it.
    # Empty: ingest-worker.heartbeat under the var directory.
    heartbeat_file: Path | None = None
    heartbeat_interval_seconds: float = Field(10.0, gt=0)
    heartbeat_max_age_seconds: float = Field(60.0, gt=0)
    # How often the broker's queue length is read for ingest_queue_depth.
    queue_sample_seconds: float = Field(10.0, gt=0)
    conversation_target: str = "127.0.0.1:50051"
    rag_timeout_seconds: float = Field(30.0, gt=0)
    # Chunking.
    chunk_target_chars: int = Field(800, ge=100)
    chunk_max_chars: int = Field(1000, ge=200)
    chunk_overlap_chars: int = Field(150, ge=0)
    # Passages are found by pieces of about this size (sentences, lines, table rows), embedded and
    # keyword-indexed each; a match returns the whole passage. 0: a passage is matched whole.
    chunk_match_chars: int = Field(300, ge=0)
    # Chunks embedded and sent to the rag service per batch: small documents are indexed together
    # until their chunks reach this many (one IndexDocuments call, one registry transaction), a
    # larger one alone in batches of this many. Most of the rag service's CPU per call is fixed
    # (its registry sessions): on the ingestion benchmark's ~8-chunk files, 128 (about a task's
    # ten files per call) took the rag service ~0.5 CPU-s fewer per 4,800 chunks than 32.
    embed_batch_size: int = Field(128, ge=1, le=512)
    # Embedding runners: single-threaded model sessions working side by side (0 = one per core).
    # 1 runs one session with the runtime's own thread count (EMBEDDING_THREADS).
    embed_runners: int = Field(0, ge=0, le=64)
    # Texts a runner encodes as one batch (chosen from everything waiting, of similar lengths).
    embed_runner_batch_size: int = Field(16, ge=1, le=512)
    # The model itself (EMBEDDING_*): the rag service's too, which embeds the queries.
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    # Online evaluation (ingest_worker.evaluation): the judge is a model the llm-orchestrator serves
    # (a model or alias, and optionally one provider: e.g. a judge configured in LLM_OPENAI_COMPATIBLE);
    # the default is the embedded model. Which answers are judged is each tenant's share.
    llm_target: str = "127.0.0.1:50052"
    evaluation_judge_model: str = ""
    evaluation_judge_provider: str = "local"
    evaluation_judge_max_tokens: int = Field(512, ge=16, le=8192)
    evaluation_timeout_seconds: float = Field(300.0, gt=0, description="deadline of one judge call (the embedded model queues)")

    @model_validator(mode="after")
    def _heartbeat(self) -> IngestSettings:
        if self.heartbeat_file is None:
            self.heartbeat_file = self.var_dir / "ingest-worker.heartbeat"
        if self.heartbeat_max_age_seconds <= self.heartbeat_interval_seconds:
            raise ValueError("INGEST_HEARTBEAT_MAX_AGE_SECONDS must exceed INGEST_HEARTBEAT_INTERVAL_SECONDS")
        return self

    @model_validator(mode="after")
    def _chunk_sizes(self) -> IngestSettings:
        if self.chunk_target_chars > self.chunk_max_chars:
            raise ValueError("INGEST_CHUNK_TARGET_CHARS must not exceed INGEST_CHUNK_MAX_CHARS")
        if self.chunk_overlap_chars >= self.chunk_target_chars:
            raise ValueError("INGEST_CHUNK_OVERLAP_CHARS must be less than INGEST_CHUNK_TARGET_CHARS")
        return self
