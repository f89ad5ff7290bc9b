"""User memory over REST: what the assistant remembers about the caller, and the tenant's policy."""

from __future__ import annotations

from datetime import UTC

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.timeutil import iso

FACT = Field(min_length=1, max_length=500, pattern=r"\S", description="a fact about you, in your words (not blank, at most 500 characters)")


class MemoryFactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = FACT


class MemorySettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = Field(description="on: facts you ask the assistant to remember are kept and used in your conversations")


class MemoryFactOut(BaseModel):
    id: str
    content: str
    source: str = Field(description="chat (you asked in a message) or api (added here)")
    conversation_id: str | None
    created_at: str
    updated_at: str


class MemoryOut(BaseModel):
    enabled: bool = Field(description="your choice (off until you turn it on)")
    tenant_allowed: bool = Field(description="false: your organisation has turned user memory off, and nothing is used or kept")
    active: bool = Field(description="memory is used in your conversations now")
    facts: list[MemoryFactOut]


class MemoryPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_memory_allowed: StrictBool


class MemoryPolicyOut(BaseModel):
    user_memory_allowed: bool


def fact_out(f: pb.MemoryFact) -> MemoryFactOut:
    return MemoryFactOut(id=f.id, content=f.content, source=f.source, conversation_id=f.conversation_id or None,
                         created_at=iso(f.created_at.ToDatetime(tzinfo=UTC)), updated_at=iso(f.updated_at.ToDatetime(tzinfo=UTC)))


def memory_out(m: pb.Memory) -> MemoryOut:
    return MemoryOut(enabled=m.enabled, tenant_allowed=m.tenant_allowed, active=m.enabled and m.tenant_allowed,
                     facts=[fact_out(f) for f in m.facts])
