from __future__ import annotations

from pathlib import Path

from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc, mcp_pb2, mcp_pb2_grpc
from chatbot_common import db
from chatbot_common.grpc_server import GrpcService, serve_grpc
from chatbot_common.net_guard import AddressPolicy
from chatbot_common.tokens import TokenCounter, open_counter
from llm_orchestrator.accounting import CostControl
from llm_orchestrator.embeddings import Embeddings
from llm_orchestrator.cache import MemoryBackend, RedisBackend, SemanticCache
from llm_orchestrator.mcp.connections import McpConnections
from llm_orchestrator.mcp.registry import Limits, McpRegistry
from llm_orchestrator.mcp.servicer import McpServersServicer
from llm_orchestrator.secrets import open_box
from llm_orchestrator.pricing import DEFAULT_PRICES, PriceTable
from llm_orchestrator.providers import build_providers, default_aliases, provider_deadlines
from llm_orchestrator.routing import ModelRouter, default_routes
from llm_orchestrator.resilience import CircuitBreaker
from llm_orchestrator.providers.base import Deadlines
from llm_orchestrator.router import Router, RouterPolicy
from chatbot_common.guardrails.redaction import Redactor
from llm_orchestrator.agents.limits import RunLimits
from llm_orchestrator.rag_client import GrpcKnowledgeBase
from llm_orchestrator.run_servicer import RunSetup
from llm_orchestrator.servicer import LlmServicer
from llm_orchestrator.tools.builtin import build_registry
from llm_orchestrator.tools.registry import ToolRegistry
from llm_orchestrator.settings import LlmSettings

SERVICE_NAME = llm_pb2.DESCRIPTOR.services_by_name["LlmOrchestrator"].full_name
MCP_SERVICE_NAME = mcp_pb2.DESCRIPTOR.services_by_name["McpServers"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: LlmSettings) -> None:
    db.upgrade_to_head(MIGRATIONS, db.normalize_url(settings.database_url))


def build_mcp_registry(settings: LlmSettings, sessions) -> McpRegistry:
    """The tenants' MCP servers: administered over McpServers, their granted tools offered to runs."""
    policy = AddressPolicy(settings.mcp_allowed_networks)
    connections = McpConnections(policy, connect_timeout=settings.mcp_connect_timeout_seconds, idle_seconds=settings.mcp_idle_seconds,
                                 max_response_bytes=settings.mcp_max_response_bytes)
    box = open_box(settings.secrets_key.get_secret_value() if settings.secrets_key else None, settings.var_dir)
    return McpRegistry(sessions, box, connections, policy,
                       Limits(settings.mcp_stdio_commands, settings.mcp_timeout_seconds, settings.mcp_max_result_chars))


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
                           cost_control(settings, router, counter), settings.cache_replay_words, embeddings(settings, providers))
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


def embeddings(settings: LlmSettings, providers) -> Embeddings:
    """The platform's embedding model (shared with the semantic cache: one copy in memory),
    loaded on the first request."""
    from chatbot_common.embedding import MODEL_NAME

    def load():
        from chatbot_common.embedding import get_embedder

        return get_embedder(settings.embedding)

    name = Path(settings.embedding.model_path).name if settings.embedding.model_path else MODEL_NAME
    return Embeddings(load, providers, name)


def agent_runs(settings: LlmSettings, router: Router, servicer: LlmServicer, tools: ToolRegistry) -> RunSetup:
    """The agent loop's wiring: the router and cost control every step goes through, the tools
    each caller may use (built-in and their tenant's MCP tools), the bounds, the output filter."""
    async def resolve(context):
        return (await tools.for_caller(context)).tools

    limits = RunLimits(settings.agent_max_steps, settings.agent_max_seconds, settings.agent_max_tokens, settings.agent_max_cost_usd)
    redactor = Redactor(settings.link_allowlist) if settings.output_redaction else None
    return RunSetup(router, servicer.costs, resolve, limits, redactor, settings.tools_max_observation_chars)


def register(servicer: LlmServicer, server) -> None:
    llm_pb2_grpc.add_LlmOrchestratorServicer_to_server(servicer, server)
    if servicer.costs.cache is not None:
        servicer.costs.cache.warm_up()
    if servicer.embeddings is not None:
        servicer.embeddings.warm_up()


def build_service(settings: LlmSettings) -> GrpcService:
    servicer, router = build_servicer(settings)
    engine = db.create_engine(settings.database_url, pool_size=settings.database_pool_size)
    mcp = build_mcp_registry(settings, db.session_factory(engine))
    knowledge = GrpcKnowledgeBase.open(settings.rag_target, settings.tools_timeout_seconds)
    tools = build_registry(settings, knowledge)
    tools.add_provider(mcp)
    servicer.runs = agent_runs(settings, router, servicer, tools)

    async def close_providers() -> None:
        for provider in router.providers.values():
            await provider.aclose()
        if servicer.costs.cache is not None:
            await servicer.costs.cache.aclose()
        await mcp.connections.aclose()
        await knowledge.aclose()
        await engine.dispose()

    def register_all(server) -> None:
        register(servicer, server)
        mcp_pb2_grpc.add_McpServersServicer_to_server(McpServersServicer(mcp), server)

    return GrpcService(
        full_names=[SERVICE_NAME, MCP_SERVICE_NAME],
        register=register_all,
        readiness=lambda: db.ping(engine),
        on_shutdown=[close_providers],
    )


async def serve(settings: LlmSettings) -> None:
    await serve_grpc(build_service(settings), settings)
