"""Turning a question into ranked, access-checked passages.

Hybrid by default: the dense vector (all-MiniLM-L6-v2) and a BM25 keyword vector (Qdrant's
tokenizer and stemmer, IDF applied by the engine) are each searched under the caller's access
filter and fused by reciprocal rank. Hits whose dense similarity is weak are dropped, near-
duplicate passages are collapsed, and an optional cross-encoder reorders the survivors.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import numpy as np
from qdrant_edge import Bm25

from chatbot_common.embedding import Embedder, LruCache
from rag.settings import RagSettings
from rag.store import Scope, VectorStore

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset("a an and are as at be by for from has have how i in is it of on or the to was what when where which who why with".split())


class SparseEncoder:
    """BM25 term weights for chunks, unit weights for queries (Qdrant's own BM25 model)."""

    def __init__(self) -> None:
        self._bm25 = Bm25()

    def document(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._bm25.embed_document(text)
        return list(vector.indices), list(vector.values)

    def query(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._bm25.embed_query(text)
        return list(vector.indices), list(vector.values)


@dataclass
class Passage:
    id: str
    payload: dict
    score: float       # dense cosine similarity
    rank_score: float  # fused or reranked
    snippet: str


def snippet(text: str, query: str, width: int) -> str:
    """The window of `text` with the most query words in it, cut at word boundaries."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    terms = {w.lower() for w in _WORD.findall(query) if w.lower() not in _STOP and len(w) > 1}
    best_start, best_hits = 0, -1
    if terms:
        positions = [m.start() for m in _WORD.finditer(text) if m.group().lower() in terms
                     or any(m.group().lower().startswith(t[:5]) for t in terms if len(t) >= 5)]
        for pos in positions:
            start = max(0, pos - width // 4)
            hits = sum(1 for p in positions if start <= p < start + width)
            if hits > best_hits:
                best_start, best_hits = start, hits
    start = best_start
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 30 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("… " if start > 0 else "") + text[start:end].strip() + (" …" if end < len(text) else "")


def _normalized(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


class Retriever:
    def __init__(self, store: VectorStore, embedder: Embedder, settings: RagSettings) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings
        self.sparse = SparseEncoder()
        self._cache = LruCache(settings.query_cache_size)
        self._reranker = None
        if settings.reranker_model_path:
            from sentence_transformers import CrossEncoder

            self._reranker = CrossEncoder(settings.reranker_model_path, device="cpu", local_files_only=True)

    def forget_queries(self) -> int:
        """Erasure: cached query embeddings are keyed by query text, which may be personal."""
        return self._cache.clear()

    async def embed_query(self, query: str) -> np.ndarray:
        key = (self._embedder.model_id, query)
        vector = self._cache.get(key)
        if vector is None:
            vector = (await asyncio.to_thread(self._embedder.encode, [query]))[0]
            self._cache.put(key, vector)
        return vector

    async def search(
        self, query: str, scope: Scope, top_k: int, *, threshold: float | None = None, hybrid: bool = True
    ) -> tuple[list[Passage], int]:
        started = time.perf_counter()
        settings = self._settings
        threshold = settings.score_threshold if threshold is None else threshold
        dense = await self.embed_query(query)
        sparse = self.sparse.query(query) if hybrid else None
        candidates = max(top_k * 3, settings.rerank_candidates if self._reranker else 0)
        hits = await self._store.query(dense.tolist(), sparse, scope, candidates, max(settings.prefetch_limit, candidates), settings.rrf_k)
        passages: list[Passage] = []
        seen: set[str] = set()
        for hit in hits:
            cosine = float(np.dot(dense, hit.dense)) if hit.dense is not None else hit.rank_score
            if cosine < threshold:
                continue  # a weak match: better no source than a misleading one
            text = hit.payload.get("text", "")
            key = _normalized(text)[:400]
            if key in seen:
                continue
            seen.add(key)
            passages.append(Passage(hit.id, hit.payload, cosine, hit.rank_score, snippet(text, query, settings.snippet_chars)))
        if self._reranker and passages:
            scores = await asyncio.to_thread(self._reranker.predict, [(query, p.payload.get("text", "")) for p in passages])
            for passage, score in zip(passages, scores, strict=True):
                passage.rank_score = float(score)
            passages.sort(key=lambda p: p.rank_score, reverse=True)
        took_ms = int((time.perf_counter() - started) * 1000)
        return passages[:top_k], took_ms
