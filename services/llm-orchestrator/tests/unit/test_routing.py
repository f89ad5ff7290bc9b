"""Routing rules: the first rule whose conditions all hold picks the tier, with its reason."""

import pytest
from pydantic import ValidationError

from llm_orchestrator.routing import ModelRouter, RouteConfig, RouteRule, Signals, complexity, default_routes, has_code


def router() -> ModelRouter:
    return ModelRouter({"auto": RouteConfig(
        tiers={"economy": "local:small", "standard": "openai:gpt-4o-mini", "premium": "openai:gpt-4o"},
        default_tier="standard",
        rules=[
            RouteRule(tier="economy", budget_left_below=0.1),
            RouteRule(tier="premium", quality="premium"),
            RouteRule(tier="premium", code=True, min_prompt_tokens=200),
            RouteRule(tier="premium", min_complexity=0.5),
            RouteRule(tier="economy", max_prompt_tokens=40, max_complexity=0.2),
        ],
    )})


def test_a_short_plain_question_goes_to_the_cheap_tier():
    text = "What is the capital of France?"
    route = router().choose("auto", Signals(12, has_code(text), complexity(text)))
    assert (route.tier, route.target) == ("economy", "local:small")
    assert route.reason.startswith("rule 5: prompt 12 tokens <= 40; complexity")


def test_a_spent_budget_wins_over_a_premium_request():
    route = router().choose("auto", Signals(12, False, 0.0, quality="premium", budget_left=0.05))
    assert route.tier == "economy" and "budget left 5% < 10%" in route.reason


def test_requested_quality_code_and_complexity_send_to_the_strong_tier():
    assert router().choose("auto", Signals(12, False, 0.0, quality="premium")).tier == "premium"
    code = "Why does this fail?\n```python\ndef f(x):\n    return x[0]\n```\n" + "more context " * 100
    route = router().choose("auto", Signals(300, has_code(code), complexity(code)))
    assert route.tier == "premium" and "code present" in route.reason
    task = ("Design a multi-region architecture for our payments system. Compare active-active with active-passive, "
            "explain the trade-offs for consistency, analyze failure modes step by step, and justify a migration plan.")
    assert complexity(task) >= 0.5
    assert router().choose("auto", Signals(60, has_code(task), complexity(task))).tier == "premium"


def test_otherwise_the_default_tier_with_the_measured_values():
    route = router().choose("auto", Signals(100, False, 0.3))
    assert route.tier == "standard" and route.reason.startswith("default tier (prompt 100 tokens")


def test_code_detection_is_not_fooled_by_prose():
    assert not has_code("Tell me about the history of Rome; it is a long story.")
    assert has_code("Traceback (most recent call last):\n  File \"x.py\", line 1\nfor (i = 0; i < n; i++) {\n}")


def test_only_routing_aliases_are_routed_and_tiers_must_exist():
    assert router().is_routed("auto") and not router().is_routed("openai:gpt-4o")
    with pytest.raises(ValidationError):
        RouteConfig(tiers={"a": "x"}, default_tier="b")
    assert set(default_routes("local:m", "default")["auto"].tiers.values()) == {"local:m", "default"}
