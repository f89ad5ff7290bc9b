"""What the chat turn needs from the llm-orchestrator, as plain Python (no gRPC here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LlmStart:
    provider: str
    model: str


@dataclass(frozen=True)
class LlmDelta:
    text: str


@dataclass(frozen=True)
class LlmEnd:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class TokenCounts:
    counts: list[int]
    counter: str
    exact: bool


@dataclass(frozen=True)
class GenerateOptions:
    model: str
    provider: str
    temperature: float | None
    max_tokens: int | None
    request_id: str
    user_id: str


class LlmClient(Protocol):
    async def context_window(self, model: str, provider: str) -> int: ...

    async def count_tokens(self, model: str, texts: list[str]) -> TokenCounts: ...

    def generate(self, messages: list[tuple[str, str]], options: GenerateOptions) -> AsyncIterator[LlmStart | LlmDelta | LlmEnd]: ...
