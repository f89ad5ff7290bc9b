"""Embeddings for callers outside the knowledge base (the gateway's /v1/embeddings): the
platform's embedding model, run here so the gateway never loads a model, or the embeddings API
of a provider that has one ("provider:model").

Nothing here knows about gRPC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from chatbot_common.embedding import DIMENSIONS, MODEL_NAME, Embedder
from chatbot_common.errors import ProviderErrorKind
from chatbot_common.tokens import ByteEstimate
from llm_orchestrator.providers.base import Provider, ProviderError

log = logging.getLogger(__name__)

LOCAL = "local"


@dataclass(frozen=True)
class Embedded:
    model: str  # as the caller named it
    vectors: list[list[float]]
    prompt_tokens: int
    provider: str = LOCAL  # who read the texts, and its name for the model: what prices them
    provider_model: str = ""


class UnknownEmbeddingModel(Exception):
    pass


class Embeddings:
    def __init__(self, load: Callable[[], Embedder], providers: dict[str, Provider], model_name: str = MODEL_NAME) -> None:
        self._load = load
        self._providers = providers
        self.model_name = model_name
        self._embedder: Embedder | None = None
        self._loading: asyncio.Lock | None = None
        self._warming: asyncio.Task | None = None

    @property
    def dimensions(self) -> int:
        return self._embedder.dimensions if self._embedder is not None else DIMENSIONS

    async def _model(self) -> Embedder:
        if self._embedder is None:
            self._loading = self._loading or asyncio.Lock()
            async with self._loading:
                if self._embedder is None:
                    self._embedder = await asyncio.to_thread(self._load)
        return self._embedder

    def warm_up(self) -> None:
        """Loads the model in the background at start, so the first request does not wait for it."""
        async def load() -> None:
            try:
                await self._model()
            except Exception as exc:  # noqa: BLE001 - the first request tries again and fails as itself
                log.warning("the embedding model did not load", extra={"error": type(exc).__name__})

        self._warming = asyncio.get_running_loop().create_task(load())

    async def embed(self, model: str, texts: list[str]) -> Embedded:
        if model in ("", self.model_name):
            embedder = await self._model()

            def run() -> tuple[list[list[float]], int]:
                return embedder.encode(texts).tolist(), sum(embedder.count_tokens(texts))

            vectors, tokens = await asyncio.to_thread(run)
            return Embedded(self.model_name, vectors, tokens, LOCAL, self.model_name)
        provider_name, sep, provider_model = model.partition(":")
        provider = self._providers.get(provider_name) if sep else None
        if provider is None or not hasattr(provider, "embed"):
            raise UnknownEmbeddingModel(f"unknown embedding model {model!r}; this platform's is {self.model_name!r}"
                                        + "".join(f", or {name}:<model>" for name, p in self._providers.items() if hasattr(p, "embed")))
        vectors, tokens = await provider.embed(provider_model, texts)
        if len(vectors) != len(texts):
            raise ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider answered a different number of embeddings")
        if tokens <= 0:
            # A server that reports no usage (many self-hosted ones) still read every text: the
            # byte estimate stands in, as for any count without a tokenizer, so the texts count
            # against budgets and are priced rather than free.
            tokens = sum(ByteEstimate().count(texts))
        return Embedded(model, vectors, tokens, provider_name, provider_model)
