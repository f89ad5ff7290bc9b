"""A run's bounds. The operator sets them (LLM_AGENT_*); a request may only lower them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal


@dataclass(frozen=True)
class RunLimits:
    max_steps: int = 8  # model calls
    max_seconds: float = 120.0  # wall time spent running (waiting for a person's approval is not counted)
    max_tokens: int = 32_000  # prompt and completion tokens of every step
    max_cost: Decimal | None = None  # USD; None: no cost bound

    def lowered(self, max_steps: int | None = None, max_seconds: float | None = None, max_tokens: int | None = None,
                max_cost: Decimal | None = None) -> RunLimits:
        """These limits with the request's tighter ones; a looser request changes nothing."""
        def low(ours, theirs):
            if theirs is None or theirs <= 0:
                return ours
            return theirs if ours is None else min(ours, theirs)

        return replace(self, max_steps=low(self.max_steps, max_steps), max_seconds=low(self.max_seconds, max_seconds),
                       max_tokens=low(self.max_tokens, max_tokens), max_cost=low(self.max_cost, max_cost))


# Why a run ended, besides the model's own finish reasons (stop, length, content_filter).
MAX_STEPS = "max_steps"
MAX_TIME = "max_time"
MAX_TOKENS = "max_tokens"
MAX_COST = "max_cost"
AWAITING_APPROVAL = "awaiting_approval"
DENIED = "denied"

STOPPED_MESSAGES = {
    MAX_STEPS: "I stopped before finishing: this run reached its limit of {limit} steps.",
    MAX_TIME: "I stopped before finishing: this run reached its time limit of {limit} seconds.",
    MAX_TOKENS: "I stopped before finishing: this run reached its limit of {limit} tokens.",
    MAX_COST: "I stopped before finishing: this run reached its cost limit of {limit} USD.",
}


def stopped_message(reason: str, limits: RunLimits) -> str:
    limit = {MAX_STEPS: limits.max_steps, MAX_TIME: f"{limits.max_seconds:g}", MAX_TOKENS: limits.max_tokens,
             MAX_COST: limits.max_cost}[reason]
    return STOPPED_MESSAGES[reason].format(limit=limit)
