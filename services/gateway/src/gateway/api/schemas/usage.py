"""An organisation's usage report, from the conversation service's usage ledger."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from chatbot.conversation.v1 import conversation_pb2 as pb


class UsageTotals(BaseModel):
    turns: int = Field(description="answers recorded, whatever their finish")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class UsageDay(UsageTotals):
    day: date
    provider: str
    model: str


class BudgetUse(BaseModel):
    used: int
    limit: int


class TenantUsageOut(BaseModel):
    tenant_id: str
    since: date
    until: date
    totals: UsageTotals
    days: list[UsageDay] = Field(description="one entry per day, provider and model that had turns")
    budgets: dict[str, BudgetUse] = Field(description="the organisation's token budgets and what the current windows used")


def usage_days(reply: pb.TenantUsageResponse) -> list[UsageDay]:
    return [UsageDay(day=date.fromisoformat(r.day), provider=r.provider, model=r.model, turns=r.turns, prompt_tokens=r.prompt_tokens,
                     completion_tokens=r.completion_tokens, total_tokens=r.prompt_tokens + r.completion_tokens) for r in reply.rows]


def totals_of(days: list[UsageDay]) -> UsageTotals:
    return UsageTotals(turns=sum(d.turns for d in days), prompt_tokens=sum(d.prompt_tokens for d in days),
                       completion_tokens=sum(d.completion_tokens for d in days), total_tokens=sum(d.total_tokens for d in days))
