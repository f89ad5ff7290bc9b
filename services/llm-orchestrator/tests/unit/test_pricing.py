"""Prices: exact decimals, cached input priced apart, an unknown price never a silent zero."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from llm_orchestrator.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, TokenUse, cost_text
from llm_orchestrator.settings import LlmSettings


def table() -> PriceTable:
    return PriceTable({
        "openai:gpt-4o-mini": ModelPrice(input=Decimal("0.15"), output=Decimal("0.60"), cached_input=Decimal("0.075")),
        "vllm:*": ModelPrice(input=Decimal(0), output=Decimal(0)),
        "fake:fake-model": ModelPrice(input=Decimal("1.10"), output=Decimal("4.40")),
    })


def test_input_output_and_cached_input_are_priced_apart_and_exactly():
    cost = table().cost("openai", "gpt-4o-mini", TokenUse(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=400))
    # 600 fresh x 0.15 + 400 cached x 0.075 + 200 x 0.60, per million
    assert cost == Decimal("0.00024")
    assert cost_text(cost) == "0.00024"


def test_cached_input_without_its_own_price_costs_as_input():
    assert table().cost("fake", "fake-model", TokenUse(10, 5, 4)) == (Decimal(10) * Decimal("1.10") + 5 * Decimal("4.40")) / 1_000_000


def test_sums_of_many_small_costs_stay_exact():
    one = table().cost("fake", "fake-model", TokenUse(7, 3))
    assert sum([one] * 1_000_000) == Decimal("20.90")  # floats would drift here


def test_unknown_price_is_unknown_not_zero_and_local_is_free():
    t = table()
    assert t.cost("openai", "gpt-9", TokenUse(10, 10)) is None
    assert cost_text(None) == ""
    assert t.cost("local", "smollm2-135m-instruct", TokenUse(500, 100)) == 0
    assert cost_text(Decimal(0)) == "0"
    assert t.cost("vllm", "anything", TokenUse(5, 5)) == 0


def test_wire_form_has_no_exponent():
    assert cost_text(Decimal("1E-7")) == "0.0000001"
    assert cost_text(Decimal("12.5000")) == "12.5"


def test_prices_come_from_configuration_as_decimals(monkeypatch):
    monkeypatch.setenv("LLM_PRICES", '{"fake:fake-model": {"input": "0.1", "output": "0.3"}}')
    settings = LlmSettings()
    assert settings.prices["fake:fake-model"].input == Decimal("0.1")
    assert "openai:gpt-4o-mini" in DEFAULT_PRICES
    monkeypatch.setenv("LLM_PRICES", '{"fake:fake-model": {"input": "-1", "output": "0.3"}}')
    with pytest.raises(ValidationError):
        LlmSettings()
