"""What a generation costs: a price table per provider and model (USD per million tokens, input,
output and cached input priced apart), applied where the model that answered is known.

Prices are Decimals from end to end (configuration, arithmetic, the decimal string on the wire),
so sums over millions of requests stay exact. A model with no price is reported as unknown
(None here, an empty string on the wire), never as a silent zero; the embedded model is free.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, Field

MILLION = Decimal(1_000_000)
FREE_PROVIDERS = frozenset({"local"})  # runs on this machine: nothing is billed per token


class ModelPrice(BaseModel):
    """USD per million tokens. `cached_input` prices prompt tokens the provider read from its
    own prompt cache (OpenAI's cached_tokens, Anthropic's cache reads); unset: as `input`."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal | None = Field(None, ge=0)


# The default models of the bundled provider settings, at their list prices (USD per million
# tokens, November 2026); LLM_PRICES replaces or adds entries, and any model left out is unknown.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "openai:gpt-4o-mini": ModelPrice(input=Decimal("0.15"), output=Decimal("0.60"), cached_input=Decimal("0.075")),
    "openai:gpt-4o": ModelPrice(input=Decimal("2.50"), output=Decimal("10.00"), cached_input=Decimal("1.25")),
    "anthropic:claude-3-5-haiku-latest": ModelPrice(input=Decimal("0.80"), output=Decimal("4.00"), cached_input=Decimal("0.08")),
}


@dataclass(frozen=True)
class TokenUse:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0  # part of prompt_tokens


class PriceTable:
    """Looks a price up by "provider:model", then "provider:*" (e.g. a self-hosted vLLM that costs
    nothing per token); the embedded provider is free unless priced explicitly."""

    def __init__(self, prices: dict[str, ModelPrice]) -> None:
        self._prices = dict(prices)

    def price(self, provider: str, model: str) -> ModelPrice | None:
        found = self._prices.get(f"{provider}:{model}") or self._prices.get(f"{provider}:*")
        if found is None and provider in FREE_PROVIDERS:
            return ModelPrice(input=Decimal(0), output=Decimal(0))
        return found

    def cost(self, provider: str, model: str, use: TokenUse) -> Decimal | None:
        """USD, exact; None when the model has no price."""
        price = self.price(provider, model)
        if price is None:
            return None
        cached = min(max(use.cached_prompt_tokens, 0), use.prompt_tokens)
        cached_price = price.input if price.cached_input is None else price.cached_input
        total = (use.prompt_tokens - cached) * price.input + cached * cached_price + use.completion_tokens * price.output
        return total / MILLION


def cost_text(cost: Decimal | None) -> str:
    """The wire form: a plain decimal string without exponent ("0.0000125"), "" for unknown."""
    if cost is None:
        return ""
    text = format(cost.normalize(), "f")
    return "0" if text in ("0", "-0") else text
