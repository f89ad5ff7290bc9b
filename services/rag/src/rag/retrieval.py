"""Turning a question into ranked, access-checked passages.

Hybrid by default: the dense vector (all-MiniLM-L6-v2) and a BM25 keyword vector (`sparse.py`)
are each searched under the caller's access filter and fused by reciprocal rank. Hits whose
dense similarity is weak are dropped, near-duplicate passages are collapsed, and an optional
cross-encoder reorders the survivors. `Search` is the caller's side: who may read what, the
limits, and the passage a citation points at.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import Counter, Histogram

from chatbot_common import tracing
from chatbot_common.embedding import Embedder, LruCache
from chatbot_common.errors import AppError, ErrorCode
from rag.registry import INDEXED, Reader, Registry, valid_document_id
from rag.settings import RagSettings
from rag.sparse import SparseEncoder
from rag.store import Scope, StoredHit, VectorStore
from rag.store.base import DENSE, SPARSE

if TYPE_CHECKING:
    from rag.resources import Resources

SEARCH_SECONDS = Histogram("rag_search_seconds", "Time to answer a search (embedding, vector store, fusion, reranking)", ["mode"],
                           buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
SEARCH_RESULTS = Histogram("rag_search_results", "Passages a search returned", buckets=(0, 1, 2, 3, 5, 8, 13, 21))
SEARCH_EMPTY = Counter("rag_search_empty_total", "Searches that returned nothing, by reason", ["reason"])

_WORD = re.compile(r"\w+", re.UNICODE)
HYBRID, DENSE_ONLY, SPARSE_ONLY = "hybrid", "dense", "sparse"
MODES = (HYBRID, DENSE_ONLY, SPARSE_ONLY)
_STOP = frozenset("a an and are as at be by for from has have how i in is it of on or the to was what when where which who why with".split())


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
        self, query: str, scope: Scope, top_k: int, *, threshold: float | None = None, mode: str = HYBRID
    ) -> tuple[list[Passage], int]:
        started = time.perf_counter()
        settings = self._settings
        threshold = settings.score_threshold if threshold is None else threshold
        dense = await self.embed_query(query)
        candidates = max(top_k * 3, settings.rerank_candidates if self._reranker else 0)
        if mode == SPARSE_ONLY:
            hits = await self._store.nearest(self.sparse.query(query), SPARSE, scope, candidates)
        elif mode == HYBRID and settings.fusion == "score":
            hits, keyword = await self._fused(query, dense, self.sparse.query(query), scope, max(settings.prefetch_limit, candidates))
        else:
            sparse = self.sparse.query(query) if mode == HYBRID else None
            hits = await self._store.query(dense.tolist(), sparse, scope, candidates, max(settings.prefetch_limit, candidates),
                                           settings.rrf_k)
        if mode == SPARSE_ONLY:
            best = max((h.rank_score for h in hits), default=0.0)
            keyword = {h.id: h.rank_score / best for h in hits} if best > 0 else {}
        elif mode == DENSE_ONLY or settings.fusion != "score":
            keyword = {}
        cosines = [float(np.dot(dense, hit.dense)) if hit.dense is not None else hit.rank_score for hit in hits]
        # The question is about these documents when some candidate is close in meaning; then a
        # strong keyword match is no weak match, however far its wording (code, a table row).
        on_topic = bool(cosines) and max(cosines) >= threshold
        passages: list[Passage] = []
        seen: set[str] = set()
        for hit, cosine in zip(hits, cosines, strict=True):
            if cosine < threshold and not (on_topic and keyword.get(hit.id, 0.0) >= settings.keyword_keep):
                continue  # a weak match: better no source than a misleading one
            text = hit.payload.get("text", "")
            key = _normalized(text)[:400]  # the pieces of one passage, and passages repeated
            if key in seen:
                continue
            seen.add(key)
            passages.append(Passage(hit.id, hit.payload, cosine, hit.rank_score, snippet(text, query, settings.snippet_chars)))
            if len(passages) >= candidates:
                break
        if self._reranker and passages:
            scores = await asyncio.to_thread(self._reranker.predict, [(query, p.payload.get("text", "")) for p in passages])
            for passage, score in zip(passages, scores, strict=True):
                passage.rank_score = float(score)
            passages.sort(key=lambda p: p.rank_score, reverse=True)
        took_ms = int((time.perf_counter() - started) * 1000)
        return passages[:top_k], took_ms


    async def _fused(self, query: str, dense: np.ndarray, sparse: tuple[list[int], list[float]], scope: Scope,
                     limit: int) -> tuple[list[StoredHit], dict[str, float]]:
        searches = [self._store.nearest(dense.tolist(), DENSE, scope, limit)]
        if sparse[0]:
            # The pieces of one passage share its keyword vector and come back together, so the
            # keyword side looks deeper to reach as many passages (a candidate it leaves out
            # scores no keyword match at all).
            searches.append(self._store.nearest(sparse, SPARSE, scope, max(limit, self._settings.keyword_prefetch_limit)))
        found = await asyncio.gather(*searches)
        sparse_hits = found[1] if len(found) > 1 else []
        dense_weight = self._settings.dense_weight
        if keyword_coverage(self.sparse, sparse[0], sparse_hits) < self._settings.weak_keyword_coverage:
            dense_weight = max(dense_weight, self._settings.weak_keyword_dense_weight)
        fused, keyword = fuse(dense, found[0], sparse_hits, dense_weight)
        return boost_phrases(query, fused, self._settings.phrase_weight), keyword


def keyword_coverage(encoder: SparseEncoder, query_terms: list[int], sparse_hits: list[StoredHit]) -> float:
    """The share of the question's keyword terms (stemmed, stop words out) that the keyword side's
    best passage holds in its text or section: how much of the question its best keyword match
    accounts for. A question worded unlike its evidence ("what does the guide advise about putting
    several queries to the user in a single reply?") matches a few of its common words anywhere,
    and relative to its best, that noise scores as high as an exact identifier match does; the
    fusion then trusts the dense side more (`weak_keyword_dense_weight`). The title is left out:
    every passage of a document shares it."""
    terms = set(query_terms)
    if not terms or not sparse_hits:
        return 0.0
    best = max(sparse_hits, key=lambda h: h.rank_score)
    held = set(encoder.document(best.payload.get("text", ""), (best.payload.get("section", ""),))[0])
    return len(terms & held) / len(terms)


_TERM = re.compile(r"[^\W_]+", re.UNICODE)


def query_phrases(query: str) -> set[tuple[str, str]]:
    """Pairs of adjacent content words of the question ("jwt secret", "secret key")."""
    words = [w for w in _TERM.findall(query.lower())]
    return {(a, b) for a, b in zip(words, words[1:], strict=False)
            if a not in _STOP and b not in _STOP and len(a) > 1 and len(b) > 1}


def boost_phrases(query: str, hits: list[StoredHit], weight: float) -> list[StoredHit]:
    """Adds `weight` times the share of the question's word pairs that a passage (or its section)
    holds in the same order, read across the punctuation that joins a name: "JWT secret key"
    meets `jwt_secret_key`, "typing dot animation" meets `'typing-dot'`. Bag-of-words scores on
    both sides miss that the words stand together."""
    pairs = query_phrases(query)
    if not pairs or weight <= 0:
        return hits
    boosted = []
    for hit in hits:
        words = _TERM.findall(f"{hit.payload.get('section', '')} {hit.payload.get('text', '')}".lower())
        present = set(zip(words, words[1:], strict=False))
        share = len(pairs & present) / len(pairs)
        boosted.append(StoredHit(hit.id, hit.rank_score + weight * share, hit.payload, hit.dense))
    boosted.sort(key=lambda h: h.rank_score, reverse=True)
    return boosted


def fuse(dense: np.ndarray, dense_hits: list[StoredHit], sparse_hits: list[StoredHit],
         dense_weight: float) -> tuple[list[StoredHit], dict[str, float]]:
    """Both candidate lists as one, ordered by a weighted sum of each side's score relative to
    its best: cosine / best cosine, BM25 / best BM25.

    Reciprocal-rank fusion sees only ranks, so when many passages are near-duplicates for the
    dense side (45 nights of one logbook, the rows of one table) their ranks among each other
    are decided by the last digits of the embedding, which differ between CPUs' int8 kernels,
    and a passage first by keyword can land behind several of them. Relative scores keep what
    the ranks lose: near-duplicates score alike on the dense side, and the keyword side's margin
    decides between them. A candidate the keyword search did not return scores 0 there; every
    candidate's cosine is computed from its stored vector.

    Returns the fused hits, best first, and each one's keyword score relative to the best."""
    hits: dict[str, StoredHit] = {}
    for hit in (*dense_hits, *sparse_hits):
        hits.setdefault(hit.id, hit)
    if not hits:
        return [], {}
    cosine = {pid: float(np.dot(dense, hit.dense)) if hit.dense is not None else 0.0 for pid, hit in hits.items()}
    best_cosine = max(max(cosine.values()), 1e-6)
    best_keyword = max((hit.rank_score for hit in sparse_hits), default=0.0)
    keyword = {hit.id: hit.rank_score / best_keyword for hit in sparse_hits} if best_keyword > 0 else {}
    fused = []
    for pid, hit in hits.items():
        score = dense_weight * max(cosine[pid], 0.0) / best_cosine + (1 - dense_weight) * keyword.get(pid, 0.0)
        fused.append(StoredHit(hit.id, score, hit.payload, hit.dense))
    fused.sort(key=lambda h: h.rank_score, reverse=True)
    return fused, keyword


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    top_k: int = 0  # 0: the configured default
    collections: tuple[str, ...] = ()
    document_ids: tuple[str, ...] = ()
    threshold: float | None = None  # None: the configured one
    hybrid: bool = True  # False: dense only
    mode: str = ""  # hybrid | dense | sparse; empty: by `hybrid`

    @property
    def retrieval_mode(self) -> str:
        return self.mode or (HYBRID if self.hybrid else DENSE_ONLY)


@dataclass(slots=True)
class Found:
    passages: list[Passage]
    searchable_documents: int  # indexed documents the caller may read
    took_ms: int


class Search:
    def __init__(self, registry: Registry, resources: Resources, settings: RagSettings) -> None:
        self._registry = registry
        self._resources = resources
        self._settings = settings

    async def search(self, reader: Reader, question: Question) -> Found:
        """The query's length is the callers' rule (the gateway refuses, the conversation cuts)."""
        query = question.text.strip()
        if not query:
            raise AppError(ErrorCode.VALIDATION_ERROR, "query must not be empty", {"field": "query"})
        top_k = question.top_k or self._settings.top_k
        if not 1 <= top_k <= self._settings.max_top_k:
            raise AppError(ErrorCode.VALIDATION_ERROR, f"top_k must be 1..{self._settings.max_top_k}")
        for document_id in question.document_ids:
            valid_document_id(document_id)
        searchable = await self._registry.count_searchable(reader)
        if searchable == 0:
            SEARCH_EMPTY.labels("no_documents").inc()
            return Found([], 0, 0)
        started = time.perf_counter()
        retriever = await self._resources.retriever()
        scope = Scope(reader.user_id, reader.tenant_id, question.collections, question.document_ids)
        if question.retrieval_mode not in MODES:
            raise AppError(ErrorCode.VALIDATION_ERROR, f"mode must be one of {', '.join(MODES)}")
        passages, took_ms = await retriever.search(query, scope, top_k, threshold=question.threshold, mode=question.retrieval_mode)
        # The points' access field may lag behind the registry (an unshare whose point write failed
        # or was cut off, a share landing during indexing): the registry decides, in one query.
        if passages:
            allowed = await self._registry.readable_ids({p.payload.get("document_id") for p in passages}, reader)
            passages = [p for p in passages if p.payload.get("document_id") in allowed]
        SEARCH_SECONDS.labels(question.retrieval_mode).observe(time.perf_counter() - started)
        SEARCH_RESULTS.observe(len(passages))
        if tracing.enabled():  # on the Search RPC's span: how retrieval went, never the query
            from opentelemetry import trace

            trace.get_current_span().set_attributes({
                "chatbot.retrieval.mode": question.retrieval_mode, "chatbot.retrieval.top_k": top_k,
                "chatbot.retrieval.results": len(passages), "chatbot.retrieval.searchable_documents": searchable})
        if not passages:
            SEARCH_EMPTY.labels("no_match").inc()
        return Found(passages, searchable, took_ms)

    async def chunk(self, reader: Reader, document_id: str, chunk_id: str) -> tuple[str, dict]:
        """The whole passage a citation points at: (its id, its stored payload)."""
        document_id = valid_document_id(document_id)
        try:
            chunk_id = str(uuid.UUID(chunk_id))
        except ValueError:
            raise AppError(ErrorCode.VALIDATION_ERROR, "malformed chunk id", {"field": "chunk_id"}) from None
        doc = await self._registry.get_readable(document_id, reader)
        if doc is None or doc.status != INDEXED:
            raise AppError(ErrorCode.NOT_FOUND, "chunk not found")
        payload = await (await self._resources.store()).get(chunk_id)
        if payload is None or payload.get("document_id") != document_id:
            raise AppError(ErrorCode.NOT_FOUND, "chunk not found")
        return chunk_id, payload
