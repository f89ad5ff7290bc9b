"""Model routing: a request that names a routing alias (e.g. model "auto") is sent to a cheaper
or a stronger model by configured rules; a request naming any other model is never rerouted.

Each alias has tiers (a name -> a model, alias or "provider:model") and an ordered list of rules;
the first rule whose every condition holds picks the tier, else the default tier does. The
signals are measured on the prompt here, where the tokenizer is: its length in tokens, whether
it holds code, and a complexity estimate; the caller adds the quality tier the person asked for
and the share of their token budget still left. The choice and its reason travel with the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, Field, model_validator


class RouteRule(BaseModel):
    """Conditions (all that are set must hold) and the tier they send a request to."""

    tier: str
    quality: str | None = None  # the person asked for this quality tier
    budget_left_below: float | None = Field(None, ge=0, le=1)  # share of the tightest budget left
    code: bool | None = None  # the prompt holds code (or not)
    min_prompt_tokens: int | None = Field(None, ge=0)
    max_prompt_tokens: int | None = Field(None, ge=0)
    min_complexity: float | None = Field(None, ge=0, le=1)
    max_complexity: float | None = Field(None, ge=0, le=1)


class RouteConfig(BaseModel):
    tiers: dict[str, str] = Field(min_length=1)
    default_tier: str
    rules: list[RouteRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tiers_exist(self) -> RouteConfig:
        for tier in [self.default_tier, *(r.tier for r in self.rules)]:
            if tier not in self.tiers:
                raise ValueError(f"tier {tier!r} is not among the tiers {sorted(self.tiers)}")
        return self


def default_routes(cheap: str, strong: str) -> dict[str, RouteConfig]:
    """`auto` when nothing is configured: economy for a short, plain question, for a person who
    asked for it, or when their budget is nearly spent; standard for the rest."""
    return {"auto": RouteConfig(
        tiers={"economy": cheap, "standard": strong},
        default_tier="standard",
        rules=[
            RouteRule(tier="economy", quality="economy"),
            RouteRule(tier="standard", quality="standard"),
            RouteRule(tier="economy", budget_left_below=0.1),
            RouteRule(tier="standard", code=True),
            RouteRule(tier="economy", max_prompt_tokens=60, max_complexity=0.3),
        ],
    )}


@dataclass(frozen=True)
class Signals:
    prompt_tokens: int
    code: bool
    complexity: float
    quality: str = ""
    budget_left: float | None = None


@dataclass(frozen=True)
class Route:
    alias: str
    tier: str
    target: str
    reason: str


_FENCE = re.compile(r"```|~~~")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |#include|public |private |function |const |let |var |return\b|"
    r"SELECT\b.*\bFROM\b|for\s*\(|if\s*\(|while\s*\(|\}|<\?php|package |fn |func )"
    r"|[;{]\s*$|^\s*Traceback \(most recent call last\)|^\s+at \S+\(.*\)$",
    re.MULTILINE | re.IGNORECASE,
)
_REASONING = re.compile(
    r"\b(?:why|explain|compare|contrast|analy[sz]e|prove|derive|design|architect\w*|trade-?offs?|optimi[sz]e|evaluate|"
    r"step[- ]by[- ]step|pros and cons|implications?|justify|critique|plan|strateg\w+|debug|refactor|algorithm\w*)\b",
    re.IGNORECASE,
)
_MATH = re.compile(r"[=∑∫√≤≥±^]|\b(?:equation|integral|derivative|matrix|probability|theorem)\b", re.IGNORECASE)


def has_code(text: str) -> bool:
    """A fenced block, or two lines that read like source code or a stack trace."""
    return bool(_FENCE.search(text)) or len(_CODE_LINE.findall(text)) >= 2


def complexity(text: str) -> float:
    """A 0..1 estimate of how much reasoning a prompt asks for, from what is cheap to see: its
    length, how many questions or parts it has, reasoning verbs, mathematics and code. Not a
    model: it only has to tell a one-line fact question from a multi-part design task."""
    words = len(text.split())
    questions = text.count("?")
    parts = len(re.findall(r"^\s*(?:\d+[.)]|[-*•])\s+", text, re.MULTILINE))
    score = min(words / 400, 0.35)
    score += min(len(set(m.lower() for m in _REASONING.findall(text))) * 0.1, 0.5)
    score += min(max(questions - 1, 0) * 0.05 + parts * 0.04, 0.15)
    score += 0.1 if _MATH.search(text) else 0.0
    score += 0.1 if has_code(text) else 0.0
    return round(min(score, 1.0), 3)


def _holds(rule: RouteRule, s: Signals) -> list[str] | None:
    """The reasons the rule matches, or None when one of its conditions fails."""
    why: list[str] = []
    if rule.quality is not None:
        if s.quality != rule.quality:
            return None
        why.append(f"quality {s.quality!r} requested")
    if rule.budget_left_below is not None:
        if s.budget_left is None or s.budget_left >= rule.budget_left_below:
            return None
        why.append(f"budget left {s.budget_left:.0%} < {rule.budget_left_below:.0%}")
    if rule.code is not None:
        if s.code != rule.code:
            return None
        why.append("code present" if s.code else "no code")
    if rule.min_prompt_tokens is not None:
        if s.prompt_tokens < rule.min_prompt_tokens:
            return None
        why.append(f"prompt {s.prompt_tokens} tokens >= {rule.min_prompt_tokens}")
    if rule.max_prompt_tokens is not None:
        if s.prompt_tokens > rule.max_prompt_tokens:
            return None
        why.append(f"prompt {s.prompt_tokens} tokens <= {rule.max_prompt_tokens}")
    if rule.min_complexity is not None:
        if s.complexity < rule.min_complexity:
            return None
        why.append(f"complexity {s.complexity:.2f} >= {rule.min_complexity:.2f}")
    if rule.max_complexity is not None:
        if s.complexity > rule.max_complexity:
            return None
        why.append(f"complexity {s.complexity:.2f} <= {rule.max_complexity:.2f}")
    return why


class ModelRouter:
    def __init__(self, routes: dict[str, RouteConfig]) -> None:
        self.routes = routes

    def is_routed(self, model: str) -> bool:
        return model in self.routes

    def choose(self, alias: str, s: Signals) -> Route:
        config = self.routes[alias]
        for number, rule in enumerate(config.rules, 1):
            why = _holds(rule, s)
            if why is not None:
                reason = f"rule {number}: " + ("; ".join(why) if why else "always")
                return Route(alias, rule.tier, config.tiers[rule.tier], reason)
        reason = (f"default tier (prompt {s.prompt_tokens} tokens, complexity {s.complexity:.2f}, "
                  f"{'code' if s.code else 'no code'})")
        return Route(alias, config.default_tier, config.tiers[config.default_tier], reason)
