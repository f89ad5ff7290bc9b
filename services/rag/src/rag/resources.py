"""The rag service's heavy parts (the embedding model, the vector store), loaded once in the
background at start-up; the service reports ready when they are."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from chatbot_common.embedding import Embedder, EmbeddingSettings, get_embedder
from rag.retrieval import Retriever
from rag.settings import RagSettings
from rag.store import VectorStore, open_store

log = logging.getLogger(__name__)


class Resources:
    def __init__(self, settings: RagSettings, embedding: EmbeddingSettings | None = None,
                 load_embedder: Callable[[], Embedder] | None = None) -> None:
        self._settings = settings
        self._load_embedder = load_embedder or partial(get_embedder, embedding or settings.embedding)
        self._task: asyncio.Task | None = None
        self._store: VectorStore | None = None
        self._retriever: Retriever | None = None
        self._embedder = None

    def start(self) -> asyncio.Task:
        if self._task is None:
            self._task = asyncio.create_task(self._load(), name="rag-resources")
        return self._task

    async def _load(self) -> None:
        self._embedder = await asyncio.to_thread(self._load_embedder)
        self._store = await asyncio.to_thread(open_store, self._settings, self._embedder.dimensions)
        self._store.start_background()
        self._retriever = Retriever(self._store, self._embedder, self._settings)
        log.info("rag resources loaded", extra={"embedder": self._embedder.model_id, "store": self._store.backend})

    async def _ready(self) -> None:
        await asyncio.shield(self.start())

    async def store(self) -> VectorStore:
        await self._ready()
        assert self._store is not None
        return self._store

    async def retriever(self) -> Retriever:
        await self._ready()
        assert self._retriever is not None
        return self._retriever

    def embedder_id(self) -> str:
        return self._embedder.model_id if self._embedder else ""

    def dimensions(self) -> int:
        return self._embedder.dimensions if self._embedder else 0

    async def loaded(self) -> bool:
        task = self.start()
        if not task.done():
            return False
        if task.exception() is not None:
            raise task.exception()
        return await self._store.ready()

    async def close(self) -> None:
        if self._task and self._task.done() and not self._task.exception() and self._store:
            await self._store.close()
