"""Cost control around one generation, where the model is known: before it, a routing alias is
resolved and the semantic cache is asked; after it, the answer is priced, counted and (when
allowed) kept in the cache. The servicer calls `plan` then `settle`; nothing here knows gRPC."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from prometheus_client import Counter

from chatbot_common.tokens import ByteEstimate, TokenCounter
from llm_orchestrator.cache import CachedAnswer, CacheKey, Hit, SemanticCache
from llm_orchestrator.pricing import PriceTable, TokenUse, cost_text
from llm_orchestrator.providers.base import ChatMessage, GenParams
from llm_orchestrator.routing import ModelRouter, Route, Signals, complexity, has_code

TOKENS = Counter("llm_usage_tokens_total", "Tokens billed by providers, by provider, model and kind", ["provider", "model", "kind"])
COST = Counter("llm_cost_usd_total", "What generations cost (USD, priced models only)", ["provider", "model"])
UNPRICED = Counter("llm_unpriced_generations_total", "Generations whose model has no price (cost unknown)", ["provider", "model"])
SAVED = Counter("llm_cache_saved_usd_total", "What answers served from the semantic cache cost when generated (USD)", ["provider", "model"])
ROUTED = Counter("llm_routing_decisions_total", "Requests routed by a routing alias, by alias and tier", ["alias", "tier"])

_COUNT_INLINE_CHARS = 4000


@dataclass(frozen=True)
class Request:
    model: str
    provider: str
    messages: list[ChatMessage]
    params: GenParams
    tenant_id: str = ""
    user_id: str = ""
    cacheable: bool = False
    quality: str = ""
    budget_left: float | None = None


@dataclass
class Plan:
    model: str  # what the router is asked for (the routing alias resolved)
    route: Route | None = None
    cache_key: CacheKey | None = None
    hit: Hit | None = None
    vector: np.ndarray | None = None  # the question's embedding, for storing the fresh answer


@dataclass(frozen=True)
class Settled:
    cost: str  # the wire form: "" unknown
    cost_value: Decimal | None


class CostControl:
    def __init__(self, prices: PriceTable, router: ModelRouter, cache: SemanticCache | None,
                 counter: TokenCounter | ByteEstimate) -> None:
        self.prices = prices
        self.router = router
        self.cache = cache
        self._counter = counter

    async def _prompt_tokens(self, messages: list[ChatMessage]) -> int:
        texts = [m.content for m in messages]
        if sum(map(len, texts)) <= _COUNT_INLINE_CHARS:
            return sum(self._counter.count(texts))
        return sum(await asyncio.to_thread(self._counter.count, texts))

    async def plan(self, request: Request) -> Plan:
        model, route = request.model, None
        if self.router.is_routed(request.model):
            question = "\n".join(m.content for m in request.messages if m.role == "user")
            signals = Signals(await self._prompt_tokens(request.messages), has_code(question), complexity(question),
                              request.quality, request.budget_left)
            route = self.router.choose(request.model, signals)
            model = route.target
            ROUTED.labels(route.alias, route.tier).inc()
        plan = Plan(model, route)
        if self.cache is not None:
            plan.cache_key = self.cache.key(cacheable=request.cacheable, tenant_id=request.tenant_id, user_id=request.user_id,
                                            model=f"{request.provider}/{model}", messages=request.messages, params=request.params)
            if plan.cache_key is not None:
                plan.hit, plan.vector = await self.cache.lookup(plan.cache_key)
                if plan.hit is not None:
                    answer = plan.hit.answer
                    if saved := Decimal(answer.cost) if answer.cost else None:
                        SAVED.labels(answer.provider, answer.model).inc(float(saved))
        return plan

    def price(self, provider: str, model: str, use: TokenUse) -> Settled:
        """Prices a finished generation and counts its tokens and cost."""
        TOKENS.labels(provider, model, "prompt").inc(use.prompt_tokens)
        TOKENS.labels(provider, model, "cached_prompt").inc(use.cached_prompt_tokens)
        TOKENS.labels(provider, model, "completion").inc(use.completion_tokens)
        cost = self.prices.cost(provider, model, use)
        if cost is None:
            UNPRICED.labels(provider, model).inc()
        else:
            COST.labels(provider, model).inc(float(cost))
        return Settled(cost_text(cost), cost)

    async def remember(self, plan: Plan, text: str, provider: str, model: str, finish_reason: str, cost: str) -> None:
        """Keeps a whole fresh answer for the questions that may reuse it."""
        if self.cache is None or plan.cache_key is None or plan.hit is not None or finish_reason != "stop" or not text:
            return
        answer = CachedAnswer(text, provider, model, finish_reason, cost, plan.cache_key.user_id, time.time())
        await self.cache.store(plan.cache_key, plan.vector, answer)
