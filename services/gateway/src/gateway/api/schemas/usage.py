"""Usage reports (an organisation's, or one's own), from the conversation service's usage ledger."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from chatbot.conversation.v1 import conversation_pb2 as pb


class UsageTotals(BaseModel):
    turns: int = Field(description="answers recorded, whatever their finish (chat turns and /v1 calls)")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_prompt_tokens: int = Field(0, description="of prompt_tokens, read from the provider's prompt cache (priced lower)")
    cost: str | None = Field(None, description="USD, a decimal string: the priced answers' cost; null when no answer was priced")
    unpriced_turns: int = Field(0, description="answers whose model has no price: their cost is unknown and not in `cost`")
    cache_hits: int = Field(0, description="answers from the semantic cache (no tokens, no cost)")


class UsageDay(UsageTotals):
    day: date
    provider: str
    model: str
    kind: str = Field("chat", description="what the calls were for: chat (answers: chat turns and /v1), summary or title "
                                          "(written in the background for a conversation, counted on its owner)")


class BudgetUse(BaseModel):
    used: int
    limit: int


class TenantUsageOut(BaseModel):
    tenant_id: str
    since: date
    until: date
    totals: UsageTotals
    by_kind: dict[str, UsageTotals] = Field(description="the totals of each kind of call (chat, summary, title)")
    days: list[UsageDay] = Field(description="one entry per day, provider, model and kind that had calls")
    budgets: dict[str, BudgetUse] = Field(description="the organisation's token budgets and what the current windows used")


class OwnUsageOut(BaseModel):
    since: date
    until: date
    totals: UsageTotals
    by_kind: dict[str, UsageTotals] = Field(description="the totals of each kind of call (chat, summary, title)")
    days: list[UsageDay] = Field(description="one entry per day, provider, model and kind that had calls of yours")


def _cost(row: pb.UsageRow) -> str | None:
    """The row's cost, or None when none of it was priced. A row of an agent run's steps served by
    another provider than the answer's counts no answer (turns 0): its cost is known unless it
    counts an unpriced one. A row with a cost and unpriced steps beside it (their count is
    `unpriced_turns`) shows the cost that is known."""
    if row.unpriced_turns >= max(row.turns, 1) and Decimal(row.cost or "0") == 0:
        return None
    return row.cost or "0"


def usage_days(reply: pb.TenantUsageResponse) -> list[UsageDay]:
    return [UsageDay(day=date.fromisoformat(r.day), provider=r.provider, model=r.model, turns=r.turns, prompt_tokens=r.prompt_tokens,
                     completion_tokens=r.completion_tokens, total_tokens=r.prompt_tokens + r.completion_tokens,
                     cached_prompt_tokens=r.cached_prompt_tokens, cost=_cost(r), unpriced_turns=r.unpriced_turns,
                     cache_hits=r.cache_hits, kind=r.kind or "chat") for r in reply.rows]


def totals_of(days: list[UsageDay]) -> UsageTotals:
    priced = [Decimal(d.cost) for d in days if d.cost is not None]
    return UsageTotals(turns=sum(d.turns for d in days), prompt_tokens=sum(d.prompt_tokens for d in days),
                       completion_tokens=sum(d.completion_tokens for d in days), total_tokens=sum(d.total_tokens for d in days),
                       cached_prompt_tokens=sum(d.cached_prompt_tokens for d in days),
                       cost=format(sum(priced, Decimal(0)).normalize(), "f") if priced else None,
                       unpriced_turns=sum(d.unpriced_turns for d in days), cache_hits=sum(d.cache_hits for d in days))


def totals_by_kind(days: list[UsageDay]) -> dict[str, UsageTotals]:
    return {kind: totals_of([d for d in days if d.kind == kind]) for kind in sorted({d.kind for d in days})}


CSV_COLUMNS = ("day", "provider", "model", "kind", "turns", "prompt_tokens", "completion_tokens", "total_tokens", "cached_prompt_tokens",
               "cost_usd", "unpriced_turns", "cache_hits")


def usage_csv(days: list[UsageDay]) -> str:
    """One row per day, provider, model and kind; an unknown cost is an empty cell, never 0."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for d in days:
        writer.writerow([d.day.isoformat(), _cell(d.provider), _cell(d.model), d.kind, d.turns, d.prompt_tokens, d.completion_tokens,
                         d.total_tokens, d.cached_prompt_tokens, d.cost if d.cost is not None else "", d.unpriced_turns, d.cache_hits])
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet must not read a model name as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
