from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import DatabaseSettings, GrpcServiceSettings

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, accurate assistant. Answer clearly and concisely. "
    "If you do not know the answer, say so."
)


class ConversationSettings(GrpcServiceSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVERSATION_", extra="ignore")
    database_file = "conversation.db"

    grpc_port: int = Field(50051, ge=0, le=65535)

    llm_target: str = "127.0.0.1:50052"
    rag_target: str = "127.0.0.1:50053"
    # Deadline for a whole generation; the gateway's own deadline is a little longer.
    llm_timeout_seconds: float = Field(300.0, gt=0)
    llm_call_timeout_seconds: float = Field(5.0, gt=0, description="deadline for unary calls to the orchestrator (the model catalogue)")

    rag_timeout_seconds: float = Field(10.0, gt=0)
    # Grounding: candidates asked of the rag service, sources put in the prompt, and their budget.
    rag_candidates: int = Field(8, ge=1, le=50)
    rag_max_sources: int = Field(5, ge=1, le=20)
    rag_context_tokens: int = Field(1500, ge=100)
    rag_context_fraction: float = Field(0.6, gt=0, le=0.9, description="share of the free input budget sources may take")
    # Spotlighting: source text datamarked (words joined by a marker) so the model can tell it
    # from instructions; off leaves only the per-turn nonce tags (cheaper in tokens).
    datamark_sources: bool = True

    default_model: str = ""  # empty: the orchestrator's default
    default_max_tokens: int = Field(512, ge=1)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    history_limit: int = Field(200, ge=1, description="most recent messages considered for the context")
    # Extra room kept when token counts are estimates (a remote model's tokenizer differs).
    estimate_margin: float = Field(0.15, ge=0, le=1)
    title_length: int = Field(60, ge=10)
