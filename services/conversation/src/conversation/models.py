"""Tables owned by the conversation service."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chatbot_common.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    provider: Mapped[str] = mapped_column(String(64), default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last message of the branch shown and continued ("" before the first message).
    current_message_id: Mapped[str] = mapped_column(String(40), default="")
    # first_message (the message's start) | generated (by the model after the first exchange) |
    # user (given or renamed by the person: never replaced).
    title_source: Mapped[str] = mapped_column(String(16), default="user")
    # The running summary of the branch up to `summary_through_id` (conversation.summaries).
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_through_id: Mapped[str] = mapped_column(String(40), default="")
    summary_messages: Mapped[int] = mapped_column(Integer, default=0)
    summary_model: Mapped[str] = mapped_column(String(200), default="")
    summary_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)

    __table_args__ = (
        Index("ix_conversations_user_updated", "user_id", "updated_at"),
        Index("ix_conversations_user_created", "user_id", "created_at"),
    )


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(40), ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    # The message this one follows (None: the first). No foreign key: retention deletes old
    # messages, and a branch then starts at the oldest one kept.
    parent_id: Mapped[str | None] = mapped_column(String(40), nullable=True, default=None)
    content: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    provider: Mapped[str] = mapped_column(String(64), default="")
    finish_reason: Mapped[str] = mapped_column(String(32), default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    ttft_ms: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str] = mapped_column(String(64), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    citations: Mapped[list] = mapped_column(JSON, default=list)
    # Size of `content` in tokens of `token_counter`, so history fitting needs no recount.
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    token_counter: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The owner's rating of an answer: 1 up, -1 down, 0 none.
    feedback_rating: Mapped[int] = mapped_column(SmallInteger, default=0)
    feedback_comment: Mapped[str] = mapped_column(Text, default="")
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    # Of prompt_tokens, those the provider read from its prompt cache; the answer's cost in
    # picodollars (conversation.usage; None: unknown, the model had no price or no usage came).
    cached_prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_pico_usd: Mapped[int | None] = mapped_column(BigInteger, nullable=True, default=None)
    # How it was served: {"cached": true, "saved_cost": "…"} from the semantic cache, and
    # "route": {"alias", "tier", "target", "reason"} when a routing alias chose the model.
    served: Mapped[dict] = mapped_column(JSON, default=dict)
    # An agent run's steps (conversation.runs): model steps and tool calls, shown with the answer.
    steps: Mapped[list] = mapped_column(JSON, default=list)
    # A run paused for a person's approval (finish_reason awaiting_approval): what resuming needs
    # (the orchestrator's state, the model and tools), and until when it may be resumed.
    run_state: Mapped[dict | None] = mapped_column(JSON, nullable=True, default=None)
    run_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)

    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "created_at"),)


class UsageRecord(Base):
    """What a tenant's model calls used, per UTC day, kind, provider and model: kept apart from
    the messages so that deleting those (erasure, retention) leaves the tenant's totals as they
    were. A row names its user while the account exists; erasure folds the user's rows into the
    tenant's anonymous ones (`user_id` empty), which hold counts only and lead back to no one.
    `kind` says what the calls were for: chat (answers: chat turns and /v1), summary or title
    (background work on a conversation, counted on its owner)."""

    __tablename__ = "usage_ledger"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" once the user is erased
    kind: Mapped[str] = mapped_column(String(16), primary_key=True, default="chat")  # chat | summary | title
    turns: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_pico_usd: Mapped[int] = mapped_column(BigInteger, default=0)  # priced turns only (conversation.usage)
    unpriced_turns: Mapped[int] = mapped_column(BigInteger, default=0)  # turns whose cost is unknown
    cache_hits: Mapped[int] = mapped_column(BigInteger, default=0)  # turns answered by the semantic cache

    __table_args__ = (Index("ix_usage_ledger_user", "user_id"),)


class MemoryFact(Base):
    """A fact a user asked the assistant to remember, put into their prompts while memory is on."""

    __tablename__ = "memory_facts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    content: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="api")  # chat | api
    conversation_id: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_memory_facts_user_created", "user_id", "created_at"),)


class MemorySetting(Base):
    """A user's choice about memory (no row: off, memory is opt-in)."""

    __tablename__ = "memory_settings"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantMemoryPolicy(Base):
    """A tenant's rule for user memory (no row: allowed). Kept here, beside the memory it governs,
    so a turn reads it with the user's facts and no call to the gateway."""

    __tablename__ = "tenant_memory_policies"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_memory_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantEvaluationPolicy(Base):
    """The share of a tenant's grounded answers judged in the background (no row: the service's
    default, 0 = off). Kept here: the turn that samples reads it without a call to the gateway."""

    __tablename__ = "tenant_evaluation_policies"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    share: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageEvaluation(Base):
    """A judge's scores of one answer (online evaluation), stored with the message: deleting the
    message (erasure, retention, its conversation) deletes them."""

    __tablename__ = "message_evaluations"

    message_id: Mapped[str] = mapped_column(String(40), ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    provider: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="done")  # done | failed
    error: Mapped[str] = mapped_column(String(200), default="")
    faithfulness: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    answer_relevance: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    context_precision: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    context_recall: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    supported_claims: Mapped[int] = mapped_column(Integer, default=0)
    judge_model: Mapped[str] = mapped_column(String(200), default="")
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_message_evaluations_tenant_evaluated", "tenant_id", "evaluated_at"),)
