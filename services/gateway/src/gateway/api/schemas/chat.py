"""A chat turn over REST (/api/v1/chat, /api/v1/chat/stream), and the pieces of it that other
features show too (a stored message carries its citations)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chatbot.common.v1 import common_pb2
from chatbot_common.ids import id_pattern


class CitationOut(BaseModel):
    number: int
    document_id: str
    chunk_id: str
    title: str
    section: str
    page: int | None
    snippet: str
    score: float


def citation_out(c: common_pb2.Citation) -> CitationOut:
    return CitationOut(number=c.number, document_id=c.document_id, chunk_id=c.chunk_id, title=c.title, section=c.section,
                       page=c.page or None, snippet=c.snippet, score=round(c.score, 4))


ModelName = Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9._:/@-]*$")]
ToolName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field("", description="The user's message (none when regenerating)", examples=["Explain RAG architecture"])
    conversation_id: str | None = Field(None, pattern=id_pattern("conv"), description="Omit to start a new conversation")
    edit_message_id: str | None = Field(None, pattern=id_pattern("msg"),
                                        description="Edit: `message` replaces this user message in a new branch (the earlier stays)")
    regenerate_message_id: str | None = Field(None, pattern=id_pattern("msg"),
                                              description="Regenerate: a new answer in place of this one, in a new branch")
    provider: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z0-9_-]*$")] | None = None
    model: ModelName | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=32_768)
    use_rag: bool | None = None
    system_prompt: str | None = Field(None, max_length=8_000, description="Only used when a new conversation starts")
    cache: bool | None = Field(None, description="false: the semantic cache neither answers nor keeps this turn "
                                                 "(as does the header Cache-Control: no-cache)")
    quality: Annotated[str, StringConstraints(max_length=32, pattern=r"^[a-z0-9_-]*$")] | None = Field(
        None, description="For a routing alias as model (\"auto\"): the quality tier asked for, e.g. economy, standard")
    tools: list[ToolName] | Literal["auto"] | None = Field(
        None, max_length=32, description='Tools the assistant may call in this turn (an agent run): names from GET /api/v1/tools, '
                                         'or "auto" for every tool you may use; unknown names are a 400')


class ToolCallOut(BaseModel):
    call_id: str
    name: str
    arguments: str = Field(description="JSON text, as the model wrote it")
    step: int
    needs_approval: bool


class PendingApprovalOut(BaseModel):
    run_id: str = Field(description="POST /api/v1/runs/{run_id}/approval decides")
    calls: list[ToolCallOut]
    expires_at: str


class TokensUsed(BaseModel):
    prompt: int
    completion: int
    total: int


class ChatOut(BaseModel):
    id: str
    conversation_id: str
    role: str = "assistant"
    content: str
    tokens_used: TokensUsed
    finish_reason: str
    model: str
    provider: str
    timestamp: str
    latency_ms: int
    ttft_ms: int
    citations: list[CitationOut] = Field(default_factory=list, description="the sources the answer was grounded in")
    cost: str | None = Field(None, description="USD, a decimal string; null when the model's price is unknown")
    cached: bool = Field(False, description="answered from the semantic cache (no model was called)")
    route: dict | None = Field(None, description="for a routing alias: the tier chosen, its model and why")
    steps: list[dict] | None = Field(None, description="an agent run's steps: model steps and tool calls (null: no tools)")
    pending_approval: PendingApprovalOut | None = Field(None, description="the run waits for a person (finish_reason awaiting_approval)")


class StopOut(BaseModel):
    message_id: str
    stopping: bool = Field(description="the generation stops at its next event; the part generated so far is stored")
