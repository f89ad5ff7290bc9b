"""Turns a requested model into an ordered chain of (provider, model) targets and runs a
generation along it: retries with backoff on retryable errors, circuit breakers per
provider, fallback to the next target, timeouts on the first token and between tokens.

Nothing here knows about gRPC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from chatbot_common import tracing
from chatbot_common.errors import ProviderErrorKind
from chatbot_common.generation import ModelSelected
from llm_orchestrator.providers.base import ChatMessage, Deadlines, Delta, End, GenParams, ModelSpec, Provider, ProviderError
from llm_orchestrator.resilience import BreakerState, CircuitBreaker, backoff_delay

log = logging.getLogger(__name__)

ATTEMPTS = Counter("llm_provider_attempts_total", "Generation attempts by provider and outcome", ["provider", "outcome"])
TTFT = Histogram(
    "llm_time_to_first_token_seconds", "Time from request to the first token", ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
TOKENS = Counter("llm_tokens_total", "Tokens processed", ["provider", "kind"])
# The OpenTelemetry GenAI client metrics (gen_ai.client.token.usage, gen_ai.client.operation.duration)
# under their Prometheus names, with the conventions' attributes as labels.
GENAI_LABELS = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]
GENAI_TOKENS = Histogram(
    "gen_ai_client_token_usage", "Tokens used per generation (GenAI semantic conventions)", [*GENAI_LABELS, "gen_ai_token_type"],
    buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576),
)
GENAI_DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds", "Time of a generation attempt, to its end or failure (GenAI semantic conventions)",
    [*GENAI_LABELS, "error_type"], buckets=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92),
)
OUTPUT_SPEED = Histogram(
    "llm_output_tokens_per_second", "Output tokens per second after the first, per generation", ["provider"],
    buckets=(1, 5, 10, 20, 40, 80, 160, 320, 640),
)
CIRCUIT_OPEN = Gauge("llm_provider_circuit_open", "1 while a provider's circuit breaker is not closed (open or trying again)", ["provider"])
ACTIVE = Gauge("llm_active_generations", "Generations in progress, by provider", ["provider"])


@dataclass(frozen=True)
class Target:
    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class RouterPolicy:
    max_attempts: int = 3
    backoff_base: float = 0.25
    backoff_max: float = 4.0
    deadlines: Deadlines = Deadlines(60.0, 60.0)
    provider_deadlines: dict[str, Deadlines] = field(default_factory=dict)  # by provider name, over `deadlines`

    def deadlines_of(self, provider: str) -> Deadlines:
        return self.provider_deadlines.get(provider, self.deadlines)


class UnknownModel(Exception):
    pass


def _attempt_span(target: Target, params: GenParams):
    """A client span per provider attempt, with the GenAI semantic conventions' attributes (never
    the prompt or the answer)."""
    from opentelemetry.trace import SpanKind

    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": target.provider, "gen_ai.request.model": target.model}
    if params.max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = params.max_tokens
    if params.temperature is not None:
        attributes["gen_ai.request.temperature"] = params.temperature
    return tracing.tracer(__name__).start_span(f"chat {target.model}", kind=SpanKind.CLIENT, attributes=attributes)


class Router:
    def __init__(
        self,
        providers: dict[str, Provider],
        aliases: dict[str, list[str]],
        default_model: str,
        policy: RouterPolicy,
        breaker_factory: Callable[[], CircuitBreaker],
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.providers = providers
        self.default_model = default_model
        self.policy = policy
        self._sleep = sleep
        self.breakers = {name: breaker_factory() for name in providers}
        self._specs: dict[Target, ModelSpec] = {
            Target(name, spec.name): spec for name, p in providers.items() for spec in p.models()
        }
        self.aliases = {alias: [self._parse_target(t) for t in chain] for alias, chain in aliases.items()}
        for alias, chain in self.aliases.items():
            if not chain:
                raise ValueError(f"model alias {alias!r} has an empty chain")

    def _parse_target(self, text: str) -> Target:
        provider, sep, model = text.partition(":")
        if not sep:
            provider, sep, model = text.partition("/")
        target = Target(provider, model)
        if not sep or target not in self._specs:
            known = ", ".join(sorted(str(t) for t in self._specs))
            raise ValueError(f"unknown chain target {text!r}; configured: {known}")
        return target

    def resolve(self, requested: str, provider: str = "") -> list[Target]:
        name = requested or self.default_model
        if name in self.aliases:
            chain = self.aliases[name]
        else:
            chain = []
            for sep in (":", "/"):
                prov, found, model = name.partition(sep)
                if found and Target(prov, model) in self._specs:
                    chain = [Target(prov, model)]
                    break
            if not chain:
                chain = [t for t in self._specs if t.model == name]
        if provider:
            chain = [t for t in chain if t.provider == provider]
            if not chain and name == self.default_model:
                chain = [t for t in self._specs if t.provider == provider][:1]
        if not chain:
            raise UnknownModel(f"unknown model {name!r}" + (f" for provider {provider!r}" if provider else ""))
        return chain

    def spec(self, target: Target) -> ModelSpec:
        return self._specs[target]

    def catalogue(self) -> list[tuple[str, list[Target], bool]]:
        """(id, chain, is_alias) for every alias and every provider:model."""
        entries = [(alias, chain, True) for alias, chain in self.aliases.items()]
        entries += [(str(t), [t], False) for t in self._specs]
        return entries

    def available(self, chain: list[Target]) -> bool:
        return any(self.breakers[t.provider].state is not BreakerState.OPEN for t in chain)

    async def generate(
        self, requested: str, provider: str, messages: list[ChatMessage], params: GenParams
    ) -> AsyncIterator[ModelSelected | Delta | End]:
        chain = self.resolve(requested, provider)
        last_error: ProviderError | None = None
        loop = asyncio.get_running_loop()
        for target in chain:
            breaker = self.breakers[target.provider]
            for attempt in range(self.policy.max_attempts):
                if not breaker.allow():
                    ATTEMPTS.labels(target.provider, "circuit_open").inc()
                    last_error = ProviderError(ProviderErrorKind.UNAVAILABLE, f"provider {target.provider} is unavailable (circuit open)")
                    break
                started_at = loop.time()
                first_at = 0.0
                emitted = False
                deadlines = self.policy.deadlines_of(target.provider)
                stream = self.providers[target.provider].stream(target.model, messages, params)
                labels = ("chat", target.provider, target.model)
                ACTIVE.labels(target.provider).inc()
                span = _attempt_span(target, params) if tracing.enabled() else None
                try:
                    timeout = deadlines.first_token
                    while True:
                        try:
                            async with asyncio.timeout(timeout):
                                item = await anext(stream)
                        except StopAsyncIteration:
                            raise ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider ended the stream early") from None
                        except TimeoutError:
                            raise ProviderError(ProviderErrorKind.TIMEOUT, "the provider stopped answering") from None
                        if not emitted:
                            emitted = True
                            first_at = loop.time()
                            TTFT.labels(target.provider).observe(first_at - started_at)
                            yield ModelSelected(target.provider, target.model)
                            timeout = deadlines.idle
                        yield item
                        if isinstance(item, End):
                            breaker.record_success()
                            CIRCUIT_OPEN.labels(target.provider).set(0)
                            ATTEMPTS.labels(target.provider, "ok").inc()
                            TOKENS.labels(target.provider, "prompt").inc(item.usage.prompt_tokens)
                            TOKENS.labels(target.provider, "completion").inc(item.usage.completion_tokens)
                            ended_at = loop.time()
                            GENAI_DURATION.labels(*labels, "").observe(ended_at - started_at)
                            GENAI_TOKENS.labels(*labels, "input").observe(item.usage.prompt_tokens)
                            GENAI_TOKENS.labels(*labels, "output").observe(item.usage.completion_tokens)
                            if item.usage.completion_tokens > 1 and ended_at > first_at:
                                OUTPUT_SPEED.labels(target.provider).observe((item.usage.completion_tokens - 1) / (ended_at - first_at))
                            if span is not None:
                                span.set_attributes({
                                    "gen_ai.response.model": target.model, "gen_ai.response.finish_reasons": [item.finish_reason],
                                    "gen_ai.usage.input_tokens": item.usage.prompt_tokens,
                                    "gen_ai.usage.output_tokens": item.usage.completion_tokens,
                                    "chatbot.time_to_first_token_ms": round((first_at - started_at) * 1000, 1)})
                            return
                except ProviderError as exc:
                    last_error = exc
                    ATTEMPTS.labels(target.provider, exc.kind.value).inc()
                    GENAI_DURATION.labels(*labels, exc.kind.value).observe(loop.time() - started_at)
                    if span is not None:
                        span.set_attribute("error.type", exc.kind.value)
                        span.set_attribute("chatbot.tokens_sent", emitted)
                    if exc.counts_against_provider:
                        breaker.record_failure()
                        CIRCUIT_OPEN.labels(target.provider).set(0 if breaker.state is BreakerState.CLOSED else 1)
                    else:
                        breaker.release()
                    if emitted:
                        raise  # tokens already reached the caller: no silent switch mid-answer
                    # The provider's own message helps operators; providers may echo input in it, and
                    # the log formatter scrubs personal data and secrets from every field.
                    log.warning("provider attempt failed", extra={"provider": target.provider, "model": target.model, "kind": exc.kind.value,
                                                                  "attempt": attempt + 1, "error": exc.detail or exc.message})
                    if not exc.retryable or exc.kind is ProviderErrorKind.TIMEOUT:
                        break  # a refusal repeats itself, and a silent provider is not waited for twice
                    if attempt + 1 < self.policy.max_attempts:
                        delay = backoff_delay(attempt, self.policy.backoff_base, self.policy.backoff_max)
                        if exc.retry_after is not None:
                            delay = max(delay, min(exc.retry_after, self.policy.backoff_max))
                        await self._sleep(delay)
                except BaseException:
                    breaker.release()
                    raise
                finally:
                    ACTIVE.labels(target.provider).dec()
                    if span is not None:
                        span.end()
                    await stream.aclose()
            if last_error is not None and last_error.kind in (ProviderErrorKind.INVALID_REQUEST, ProviderErrorKind.CONTENT_FILTER):
                break  # the next provider would refuse the same request
        assert last_error is not None
        raise last_error
