"""Provider registry: which providers exist is decided by configuration alone."""

from __future__ import annotations

from llm_orchestrator.providers.base import Deadlines, Provider
from llm_orchestrator.settings import LlmSettings


def provider_deadlines(settings: LlmSettings) -> dict[str, Deadlines]:
    """Deadlines that differ from the remote default: the embedded model's, and any server's own."""
    deadlines = {"local": Deadlines(settings.local_first_token_timeout_seconds, settings.local_idle_timeout_seconds)}
    for server in settings.openai_compatible:
        if server.first_token_timeout_seconds or server.idle_timeout_seconds:
            deadlines[server.name] = Deadlines(server.first_token_timeout_seconds or settings.first_token_timeout_seconds,
                                               server.idle_timeout_seconds or settings.idle_timeout_seconds)
    return deadlines


def build_providers(settings: LlmSettings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    # The HTTP client's own timeout backs the router's deadlines up (connect, each read).
    timeout = max(settings.first_token_timeout_seconds, settings.idle_timeout_seconds,
                  *(d for s in settings.openai_compatible for d in (s.first_token_timeout_seconds, s.idle_timeout_seconds) if d))
    if settings.local_enabled:
        from chatbot_common.tokens import bundled_model_path
        from llm_orchestrator.providers.local import LocalProvider

        providers["local"] = LocalProvider(
            model_path=settings.local_model_path or bundled_model_path(),
            model_name=settings.local_model_name,
            n_ctx=settings.local_n_ctx,
            threads=settings.local_threads,
            max_queue=settings.local_max_queue,
            default_max_tokens=settings.local_default_max_tokens,
            stream_interval=settings.stream_interval_ms / 1000,
        )
    if settings.openai_enabled:
        from llm_orchestrator.providers.openai import OpenAIProvider

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
        providers["openai"] = OpenAIProvider("openai", key, settings.openai_base_url, settings.openai_models, settings.openai_context_window, timeout)
    for server in settings.openai_compatible:
        from llm_orchestrator.providers.openai import OpenAIProvider

        providers[server.name] = OpenAIProvider(
            server.name, server.api_key.get_secret_value(), server.base_url, server.models, server.context_window, timeout
        )
    if settings.anthropic_api_key:
        from llm_orchestrator.providers.anthropic import AnthropicProvider

        providers["anthropic"] = AnthropicProvider(
            settings.anthropic_api_key.get_secret_value(), settings.anthropic_base_url, settings.anthropic_models,
            settings.anthropic_context_window, timeout, settings.local_default_max_tokens,
        )
    return providers


def default_aliases(settings: LlmSettings, providers: dict[str, Provider]) -> dict[str, list[str]]:
    """`default` prefers a configured remote provider and falls back to the embedded model."""
    aliases = dict(settings.model_aliases)
    if settings.default_model not in aliases:
        chain = [f"{name}:{p.models()[0].name}" for name, p in providers.items() if name != "local"]
        if "local" in providers:
            chain.append(f"local:{providers['local'].models()[0].name}")
        aliases[settings.default_model] = chain
    return aliases
