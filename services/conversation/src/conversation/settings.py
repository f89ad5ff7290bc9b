from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import BrokerSettings, DatabaseSettings, GrpcServiceSettings

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, accurate assistant. Answer clearly and concisely. "
    "If you do not know the answer, say so."
)


class ConversationSettings(GrpcServiceSettings, DatabaseSettings, BrokerSettings):
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

    # The input budget's split (conversation.context_window.plan): after the system prompt and
    # the new message, memory (summary and user memory) takes at most this, then retrieved
    # sources (rag_context_*), then verbatim history what is left, capped by history_tokens.
    memory_tokens: int = Field(600, ge=0, description="most tokens the summary and user memory take together")
    memory_fraction: float = Field(0.25, ge=0, le=0.9, description="share of the free input budget memory may take")
    history_tokens: int = Field(0, ge=0, description="most tokens of verbatim history (0: whatever is left)")
    # Summary memory (conversation.summaries): when the verbatim history passes this share of
    # its budget, older turns are folded into a running summary in the background.
    summary_enabled: bool = True
    summary_trigger: float = Field(0.8, gt=0, le=1)
    summary_keep_messages: int = Field(6, ge=2, description="newest messages that always stay verbatim")
    summary_keep_share: float = Field(0.5, gt=0, lt=1, description="share of the history allowance left verbatim after a summary")
    summary_max_tokens: int = Field(200, ge=16, description="length of a summary the model writes")
    # The model that writes summaries and titles: a cheap one; the embedded model by default.
    memory_model: str = ""
    memory_provider: str = "local"
    memory_timeout_seconds: float = Field(180.0, gt=0, description="deadline of one summary or title call (the local model queues)")
    background_concurrency: int = Field(1, ge=1, le=16, description="summaries and titles written at once by this replica")
    auto_titles: bool = True
    title_max_tokens: int = Field(16, ge=4, le=64)
    # User memory (conversation.user_memory): opt-in per user, off for a tenant that says so.
    memory_max_facts: int = Field(50, ge=1, le=1000)
    # Agent runs: how long a run paused for a person's approval may be resumed (then it is expired).
    run_approval_seconds: float = Field(3600.0, gt=0)
    # A resumed run's claim is a lease: a run still 'resuming' this long after it was claimed (the
    # replica that claimed it crashed, or was cancelled mid-claim) is ended as interrupted when an
    # approval or a listing next touches it. Longer than a run may last (llm_timeout_seconds).
    run_resume_lease_seconds: float = Field(900.0, gt=0)
    # Online evaluation (conversation.online_evaluation): the share of a tenant's grounded answers
    # judged in the background when its admin has set none (0: off); the tasks go to the worker
    # over the ingestion broker (CONVERSATION_BROKER_URL, or INGEST_BROKER_URL / REDIS_URL).
    evaluation_default_share: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _lease_outlasts_a_run(self) -> ConversationSettings:
        if self.run_resume_lease_seconds <= self.llm_timeout_seconds:
            raise ValueError("run_resume_lease_seconds must be longer than llm_timeout_seconds (a run still under way "
                             "would be ended as interrupted)")
        return self
