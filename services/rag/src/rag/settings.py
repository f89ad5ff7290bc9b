from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import GrpcServiceSettings


class RagSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    grpc_port: int = Field(50053, ge=0, le=65535)
