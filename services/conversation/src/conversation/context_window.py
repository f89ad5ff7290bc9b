"""Fitting a conversation into a model's context window, by token counts."""

from __future__ import annotations

from dataclasses import dataclass

# Role markers and separators a chat template adds around each message.
PER_MESSAGE_OVERHEAD = 6


@dataclass(frozen=True)
class Budget:
    context_window: int
    output_reserve: int
    margin: float = 0.0  # extra fraction kept free when counts are estimates

    def cost(self, tokens: int) -> int:
        return int((tokens + PER_MESSAGE_OVERHEAD) * (1.0 + self.margin)) + 1

    @property
    def input_limit(self) -> int:
        return self.context_window - self.output_reserve


class DoesNotFit(Exception):
    def __init__(self, needed: int, limit: int) -> None:
        super().__init__(f"{needed} tokens needed, {limit} available")
        self.needed = needed
        self.limit = limit


def fit_history(budget: Budget, fixed_tokens: list[int], history_tokens: list[int]) -> int:
    """How many of the newest history messages fit beside the fixed ones (system prompt and
    the new user message). `history_tokens` is oldest first. Raises DoesNotFit when even the
    fixed messages exceed the budget."""
    used = sum(budget.cost(t) for t in fixed_tokens)
    if used > budget.input_limit:
        raise DoesNotFit(used, budget.input_limit)
    kept = 0
    for tokens in reversed(history_tokens):
        cost = budget.cost(tokens)
        if used + cost > budget.input_limit:
            break
        used += cost
        kept += 1
    return kept
