"""What the chat turn needs from the llm-orchestrator, as plain Python (no gRPC here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from chatbot_common.generation import ModelSelected


@dataclass(frozen=True, slots=True)
class LlmDelta:
    text: str


@dataclass(frozen=True, slots=True)
class LlmEnd:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0
    cost: str = ""  # USD decimal string, priced by the orchestrator; "": unknown
    served: dict | None = None  # from the semantic cache, a routing choice (conversation.servicer.served_dict)


@dataclass(frozen=True)
class ModelFacts:
    """What the model catalogue says about the model a turn asked for."""

    context_window: int
    tokenizer: str  # the token counter (chatbot_common.tokens) exact for it; "": counts are estimates
    targets: tuple[str, ...] = ()  # the "provider:model" entries that may serve it, in order


@dataclass(frozen=True)
class GenerateOptions:
    model: str
    provider: str
    temperature: float | None
    max_tokens: int | None
    request_id: str
    user_id: str
    tenant_id: str = ""
    # The prompt holds no sources (nor the user's memory) and the person did not opt out: the
    # orchestrator's semantic cache may answer it (it checks the rest).
    cacheable: bool = False
    quality: str = ""  # for a routing alias: the quality tier asked for
    budget_left: float | None = None  # for a routing alias: the share of the tightest budget left


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str
    model: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cost: str = ""  # USD decimal string, priced by the orchestrator; "": unknown


class LlmClient(Protocol):
    async def model(self, model: str, provider: str) -> ModelFacts:
        """Raises a VALIDATION_ERROR AppError for a model the orchestrator does not serve."""
        ...

    def generate(self, messages: list[tuple[str, str]], options: GenerateOptions) -> AsyncIterator[ModelSelected | LlmDelta | LlmEnd]: ...

    async def complete(self, messages: list[tuple[str, str]], options: GenerateOptions, timeout: float) -> Completion:
        """One whole answer (background work: summaries, titles)."""
        ...
