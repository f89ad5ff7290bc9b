from __future__ import annotations

from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc
from chatbot_common.grpc_server import GrpcService, serve_grpc
from chatbot_common.tokens import TokenCounter, open_counter
from llm_orchestrator.providers import build_providers, default_aliases, provider_deadlines
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
    return LlmServicer(router, counter, redactor, exact, settings.stream_interval_ms / 1000), router


def build_service(settings: LlmSettings) -> GrpcService:
    servicer, router = build_servicer(settings)

    async def close_providers() -> None:
        for provider in router.providers.values():
            await provider.aclose()

    return GrpcService(
        full_names=[SERVICE_NAME],
        register=lambda server: llm_pb2_grpc.add_LlmOrchestratorServicer_to_server(servicer, server),
        on_shutdown=[close_providers],
    )


async def serve(settings: LlmSettings) -> None:
    await serve_grpc(build_service(settings), settings)
