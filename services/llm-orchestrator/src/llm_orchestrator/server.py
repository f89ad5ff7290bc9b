from __future__ import annotations

from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc
from chatbot_common.grpc_server import GrpcService, serve_grpc
from chatbot_common.tokens import TokenCounter, open_counter
from llm_orchestrator.accounting import CostControl
from llm_orchestrator.cache import MemoryBackend, RedisBackend, SemanticCache
from llm_orchestrator.pricing import DEFAULT_PRICES, PriceTable
from llm_orchestrator.providers import build_providers, default_aliases, provider_deadlines
from llm_orchestrator.routing import ModelRouter, default_routes
from llm_orchestrator.resilience import CircuitBreaker
from llm_orchestrator.providers.base import Deadlines
from llm_orchestrator.router import Router, RouterPolicy
from chatbot_common.guardrails.redaction import Redactor
from llm_orchestrator.servicer import LlmServicer
from llm_orchestrator.settings import LlmSettings

SERVICE_NAME = llm_pb2.DESCRIPTOR.services_by_name["LlmOrchestrator"].full_name


def build_servicer(settings: LlmSettings) -> tuple[LlmServicer, Router]:
    providers = build_providers(settings)
    router = Router(
        providers,
        default_aliases(settings, providers),
        settings.default_model,
        RouterPolicy(
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base_seconds,
            backoff_max=settings.backoff_max_seconds,
            deadlines=Deadlines(settings.first_token_timeout_seconds, settings.idle_timeout_seconds),
            provider_deadlines=provider_deadlines(settings),
        ),
        lambda: CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_cooldown_seconds),
    )
    # The embedded model's own tokenizer: exact for the local provider, an estimate for others.
    counter = open_counter(settings.local_model_path)
    exact = frozenset({"local"}) if "local" in providers and isinstance(counter, TokenCounter) else frozenset()
    redactor = Redactor(settings.link_allowlist) if settings.output_redaction else None
    servicer = LlmServicer(router, counter, redactor, exact, settings.stream_interval_ms / 1000,
                           cost_control(settings, router, counter), settings.cache_replay_words)
    return servicer, router


def cost_control(settings: LlmSettings, router: Router, counter) -> CostControl:
    routes = settings.routes
    if not routes:
        cheap = f"local:{settings.local_model_name}" if "local" in router.providers else settings.default_model
        routes = default_routes(cheap, settings.default_model)
    for alias, config in routes.items():
        if alias in router.aliases:
            raise ValueError(f"LLM_ROUTES: {alias!r} is a model alias already")
        for target in config.tiers.values():
            router.resolve(target)  # an unknown model stops the service at start
    cache = None
    if settings.cache_enabled:
        if settings.cache_redis_url:
            backend = RedisBackend(settings.cache_redis_url, settings.cache_ttl_seconds, settings.cache_max_entries,
                                   settings.cache_timeout_seconds)
        else:
            backend = MemoryBackend(settings.cache_ttl_seconds, settings.cache_max_entries)

        def load_embedder():
            from chatbot_common.embedding import get_embedder

            return get_embedder(settings.embedding).encode

        cache = SemanticCache(backend, load_embedder, settings.cache_threshold, frozenset(settings.cache_disabled_tenants),
                              settings.cache_timeout_seconds, frozenset(settings.cache_shared_tenants))
    return CostControl(PriceTable({**DEFAULT_PRICES, **settings.prices}), ModelRouter(routes), cache, counter)


def register(servicer: LlmServicer, server) -> None:
    llm_pb2_grpc.add_LlmOrchestratorServicer_to_server(servicer, server)
    if servicer.costs.cache is not None:
        servicer.costs.cache.warm_up()


def build_service(settings: LlmSettings) -> GrpcService:
    servicer, router = build_servicer(settings)

    async def close_providers() -> None:
        for provider in router.providers.values():
            await provider.aclose()
        if servicer.costs.cache is not None:
            await servicer.costs.cache.aclose()

    return GrpcService(
        full_names=[SERVICE_NAME],
        register=lambda server: register(servicer, server),
        on_shutdown=[close_providers],
    )


async def serve(settings: LlmSettings) -> None:
    await serve_grpc(build_service(settings), settings)
