from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import GrpcServiceSettings


class IngestSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    # gRPC here only answers health checks (Kubernetes probes, the gateway's /ready).
    grpc_port: int = Field(50054, ge=0, le=65535)
    # Empty: kombu's filesystem transport under var/ (no server). Else redis://… or amqp://…
    broker_url: str = Field("", validation_alias=AliasChoices("INGEST_BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL"))
    concurrency: int = Field(1, ge=1)
    task_time_limit_seconds: int = Field(600, ge=10)
    rag_target: str = "127.0.0.1:50053"
