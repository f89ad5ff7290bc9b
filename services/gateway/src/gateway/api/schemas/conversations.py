"""Conversations and their messages over REST, and the converters from the conversation service's messages."""

from __future__ import annotations

from datetime import UTC
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.ids import id_pattern
from chatbot_common.timeutil import iso
from gateway.api.schemas.chat import CitationOut, PendingApprovalOut, ToolCallOut, citation_out
from gateway.api.schemas.common import Pagination
from gateway.chat_stream import spend_of, tool_called


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field("", max_length=200)
    provider: str = Field("", max_length=64, pattern=r"^[a-z0-9_-]*$")
    model: str = Field("", max_length=200, pattern=r"^[A-Za-z0-9._:/@-]*$")
    system_prompt: str = Field("", max_length=8_000)


class ConversationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200, pattern=r"\S", description="the new title (not blank)")
    current_message_id: str | None = Field(
        None, pattern=id_pattern("msg"),
        description="switch branch: a message of the conversation; the newest message under it becomes current")
    pinned: StrictBool | None = Field(None, description="pinned conversations are listed first")
    archived: StrictBool | None = Field(None, description="archived conversations are left out of the list unless asked for")

    @model_validator(mode="after")
    def _something(self) -> ConversationPatch:
        if self.title is None and self.current_message_id is None and self.pinned is None and self.archived is None:
            raise ValueError("nothing to change: give title, current_message_id, pinned or archived")
        return self


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


class FeedbackOut(BaseModel):
    rating: Literal["up", "down"]
    comment: str
    at: str


RATINGS = {"up": 1, "down": -1}


class SummaryOut(BaseModel):
    text: str
    through_message_id: str = Field(description="the last message it covers; the messages after it are sent to the model in full")
    messages: int = Field(description="how many messages it covers")
    model: str
    updated_at: str


class ConversationOut(BaseModel):
    id: str
    title: str
    title_source: str = Field("user", description="first_message | generated | user (a title you give is never replaced)")
    model: str
    provider: str
    system_prompt: str
    message_count: int
    created_at: str
    updated_at: str
    current_message_id: str = Field(description="the last message of the branch shown and continued")
    pending_message_id: str | None = Field(
        None, description="the answer being generated in this conversation (follow it with GET /api/v1/chat/stream/{id}); "
                          "null when none is in flight")
    pinned: bool = False
    archived: bool = False
    summary: SummaryOut | None = Field(None, description="the running summary of the older turns (written in the background); "
                                                         "null until the conversation is long enough to need one")


class ConversationList(BaseModel):
    conversations: list[ConversationOut]
    pagination: Pagination


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    parent_id: str | None = Field(description="the message this one follows (none: the first); siblings are branches")
    role: str
    content: str
    model: str
    provider: str
    finish_reason: str
    tokens_used: dict[str, int]
    latency_ms: int
    ttft_ms: int
    error: dict[str, str] | None
    citations: list[CitationOut]
    created_at: str
    feedback: FeedbackOut | None = Field(None, description="the owner's rating of an answer")
    cost: str | None = Field(None, description="an answer's cost, USD as a decimal string; null when unknown")
    cached: bool = Field(False, description="an answer from the semantic cache")
    route: dict | None = Field(None, description="for an answer to a routing alias: the tier chosen, its model and why")
    steps: list[dict] | None = Field(None, description="an agent run's steps: model steps and tool calls (null: no tools)")
    pending_approval: PendingApprovalOut | None = Field(None, description="the run waits for a person (finish_reason awaiting_approval)")


class MessageList(BaseModel):
    messages: list[MessageOut]
    pagination: Pagination


def conversation_out(c: pb.Conversation, pending: dict[str, str] | None = None) -> ConversationOut:
    """`pending`: the answers in flight by conversation id (`Relays.pending`)."""
    return ConversationOut(
        id=c.id, title=c.title, model=c.model, provider=c.provider, system_prompt=c.system_prompt, message_count=c.message_count,
        created_at=iso(c.created_at.ToDatetime(tzinfo=UTC)), updated_at=iso(c.updated_at.ToDatetime(tzinfo=UTC)),
        current_message_id=c.current_message_id, pending_message_id=(pending or {}).get(c.id),
        title_source=c.title_source or "user", pinned=c.pinned, archived=c.archived,
        summary=SummaryOut(text=c.summary.text, through_message_id=c.summary.through_message_id, messages=c.summary.messages,
                           model=c.summary.model, updated_at=iso(c.summary.updated_at.ToDatetime(tzinfo=UTC)))
        if c.HasField("summary") else None,
    )


def message_out(m: pb.Message) -> MessageOut:
    return MessageOut(
        id=m.id, conversation_id=m.conversation_id, parent_id=m.parent_id or None, role=m.role, content=m.content, model=m.model, provider=m.provider,
        finish_reason=m.finish_reason,
        tokens_used={"prompt": m.usage.prompt_tokens, "completion": m.usage.completion_tokens, "total": m.usage.total_tokens},
        latency_ms=m.latency_ms, ttft_ms=m.ttft_ms,
        error={"code": m.error_code, "message": m.error_message} if m.error_code else None,
        citations=[citation_out(c) for c in m.citations],
        created_at=iso(m.created_at.ToDatetime(tzinfo=UTC)),
        feedback=FeedbackOut(rating="up" if m.feedback.rating > 0 else "down", comment=m.feedback.comment,
                             at=iso(m.feedback.at.ToDatetime(tzinfo=UTC))) if m.HasField("feedback") else None,
        **(spend_of(m.usage, m.served).shown() if m.role == "assistant" else {}),
        steps=orjson.loads(m.steps) if m.steps else None,
        pending_approval=pending_approval_out(m.id, m.pending_approval) if m.HasField("pending_approval") else None,
    )


def pending_approval_out(run_id: str, p: pb.PendingApproval) -> PendingApprovalOut:
    return PendingApprovalOut(run_id=run_id, calls=[ToolCallOut(**tool_called(c).shown()) for c in p.calls],
                              expires_at=iso(p.expires_at.ToDatetime(tzinfo=UTC)))
