"""Fitting a conversation into a model's context window, by token counts.

The window is split in this order, each part taking at most what is left after the ones before:
the output reserve (the answer's max_tokens, at most half the window); the system prompt and
the new message (always whole, or the turn is refused); memory, the conversation's summary and
the user's remembered facts (`memory_tokens`, at most `memory_fraction` of what is free); the
retrieved sources (`rag_context_tokens`, at most `rag_context_fraction` of what is then free);
and the verbatim history, newest first, in the rest (capped by `history_tokens` when set). Counts
are exact for a model whose tokenizer is here, else estimates with `margin` added to each.
"""

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

    def inline_cost(self, tokens: int) -> int:
        """Text inside another message (a block of the system message): no template overhead."""
        return int(tokens * (1.0 + self.margin)) + 1

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


def costs(budget: Budget, tokens: list[int]) -> int:
    """What these messages take of the window, each with its template overhead."""
    return sum(budget.cost(t) for t in tokens)


def share(free: int, cap: int, fraction: float) -> int:
    """A part's allowance: `fraction` of the free tokens, at most `cap`."""
    return max(0, min(cap, int(free * fraction)))


def fit_newest(budget: Budget, allowance: int, tokens: list[int]) -> tuple[int, int]:
    """How many of the newest items (`tokens` oldest first) fit in `allowance`, and their cost."""
    used = kept = 0
    for count in reversed(tokens):
        cost = budget.cost(count)
        if used + cost > allowance:
            break
        used += cost
        kept += 1
    return kept, used


def history_allowance(free: int, cap: int) -> int:
    """Verbatim history takes what is left, capped when a cap is set (0: none)."""
    return max(0, min(free, cap) if cap else free)


def needs_summary(history_cost: int, allowance: int, trigger: float) -> bool:
    """The history (everything not yet summarised) has passed `trigger` of its allowance."""
    return allowance > 0 and history_cost >= trigger * allowance
