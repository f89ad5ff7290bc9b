"""Qdrant Edge: the Qdrant engine in-process, data under var/. The embedded default.

Edge calls are synchronous; they run on worker threads. Writes are serialised by one lock;
queries run concurrently. New points land in appendable segments searched exhaustively; once
enough arrived and writes paused, `optimize()` builds the HNSW index in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from pathlib import Path

import numpy as np
from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    Fusion,
    MatchAny,
    MatchValue,
    Modifier,
    PayloadSchemaType,
    Point,
    Prefetch,
    Query,
    QueryRequest,
    RangeFloat,
    SparseVector,
    UpdateOperation,
)

from rag.settings import RagSettings
from rag.store.base import DENSE, KEYWORD_FIELDS, SPARSE, ChunkPoint, Scope, StoredHit

log = logging.getLogger(__name__)


def scope_filter(scope: Scope) -> Filter:
    mine = FieldCondition("owner_id", match=MatchValue(scope.user_id))
    access: Filter | FieldCondition = mine
    if scope.tenant_id:
        shared = Filter(must=[FieldCondition("tenant_id", match=MatchValue(scope.tenant_id)),
                              FieldCondition("visibility", match=MatchValue("tenant"))])
        access = Filter(should=[mine, shared])
    must: list = [access]
    if scope.collections:
        must.append(FieldCondition("collection", match=MatchAny(list(scope.collections))))
    if scope.document_ids:
        must.append(FieldCondition("document_id", match=MatchAny(list(scope.document_ids))))
    return Filter(must=must)


def _document(document_id: str) -> Filter:
    return Filter(must=[FieldCondition("document_id", match=MatchValue(document_id))])


class EdgeStore:
    backend = "qdrant-edge"

    def __init__(self, shard: EdgeShard, settings: RagSettings) -> None:
        self._shard = shard
        self._settings = settings
        self._write_lock = threading.Lock()
        self._pending = 0  # points written since the last index build
        self._last_write = 0.0
        self._optimizer: asyncio.Task | None = None
        self._closed = False

    @classmethod
    def open(cls, settings: RagSettings, dimensions: int) -> EdgeStore:
        path = Path(settings.edge_path) / settings.collection
        config = EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=dimensions, distance=Distance.Cosine)},
            sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        )
        if path.exists() and any(path.iterdir()):
            shard = EdgeShard.load(str(path))
        else:
            path.mkdir(parents=True, exist_ok=True)
            shard = EdgeShard.create(str(path), config)
        existing = set(shard.info().payload_schema.keys())
        for name in KEYWORD_FIELDS:
            if name not in existing:
                shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword))
        if "chunk_index" not in existing:
            shard.update(UpdateOperation.create_field_index("chunk_index", PayloadSchemaType.Integer))
        return cls(shard, settings)

    def start_background(self) -> None:
        if self._optimizer is None:
            self._optimizer = asyncio.create_task(self._optimize_loop(), name="edge-optimizer")

    async def _optimize_loop(self) -> None:
        flushed_at = 0.0
        while not self._closed:
            await asyncio.sleep(1.0)
            idle = time.monotonic() - self._last_write >= self._settings.optimize_idle_seconds
            if self._pending >= self._settings.optimize_after_points and idle:
                await asyncio.to_thread(self.optimize)
            elif self._last_write > flushed_at and idle:
                flushed_at = time.monotonic()
                await asyncio.to_thread(self._flush)

    def _flush(self) -> None:
        with self._write_lock:
            self._shard.flush()

    def optimize(self) -> None:
        with self._write_lock:
            self._pending = 0
            started = time.perf_counter()
            changed = self._shard.optimize()
            self._shard.flush()
        info = self._shard.info()
        log.info("edge optimize finished", extra={
            "changed": changed, "seconds": round(time.perf_counter() - started, 2), "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count, "segments": info.segments_count})

    def _write(self, operation: UpdateOperation, points: int = 0) -> None:
        # Durable once applied: the shard's write-ahead log has it; segments flush in the background.
        with self._write_lock:
            self._shard.update(operation)
            self._pending += points
            self._last_write = time.monotonic()

    async def upsert(self, points: list[ChunkPoint]) -> None:
        # `dense` is a list of floats already (`indexing.chunk_points`): handed over without another copy.
        edge_points = [Point(p.id, {DENSE: p.dense, SPARSE: SparseVector(p.sparse_indices, p.sparse_values)}, p.payload)
                       for p in points]
        await asyncio.to_thread(self._write, UpdateOperation.upsert_points(edge_points), len(edge_points))

    async def count(self, document_id: str | None = None) -> int:
        request = CountRequest(filter=_document(document_id) if document_id else None, exact=True)
        return await asyncio.to_thread(self._shard.count, request)

    async def delete_document(self, document_id: str) -> int:
        before = await self.count(document_id)
        await asyncio.to_thread(self._write, UpdateOperation.delete_points_by_filter(_document(document_id)))
        return before

    async def delete_chunks_from(self, document_id: str, first_index: int) -> None:
        stale = Filter(must=[FieldCondition("document_id", match=MatchValue(document_id)),
                             FieldCondition("chunk_index", range=RangeFloat(gte=float(first_index)))])
        await asyncio.to_thread(self._write, UpdateOperation.delete_points_by_filter(stale))

    async def set_visibility(self, document_id: str, visibility: str) -> None:
        """Every point of the document carries the new access field; searches filter on it at once."""
        await asyncio.to_thread(self._write, UpdateOperation.set_payload_by_filter(_document(document_id), {"visibility": visibility}))

    async def query(self, dense, sparse, scope, limit, prefetch_limit, rrf_k) -> list[StoredHit]:
        flt = scope_filter(scope)
        if sparse and sparse[0]:
            request = QueryRequest(
                limit=limit,
                prefetches=[
                    Prefetch(limit=prefetch_limit, query=Query.Nearest(list(dense), using=DENSE), filter=flt),
                    Prefetch(limit=prefetch_limit, query=Query.Nearest(SparseVector(*sparse), using=SPARSE), filter=flt),
                ],
                query=Fusion.Rrf(k=rrf_k),
                filter=flt,
                with_payload=True,
                with_vector=[DENSE],
            )
        else:
            request = QueryRequest(limit=limit, query=Query.Nearest(list(dense), using=DENSE), filter=flt,
                                   with_payload=True, with_vector=[DENSE])
        points = await asyncio.to_thread(self._shard.query, request)
        return [StoredHit(str(p.id), float(p.score), dict(p.payload or {}), _dense(p.vector)) for p in points]

    async def nearest(self, vector, using, scope, limit) -> list[StoredHit]:
        """The best matches of one kind of vector alone (dense, or sparse as (indices, values)), under
        the scope's filter: the candidate lists the retriever fuses itself."""
        query = Query.Nearest(SparseVector(*vector) if using == SPARSE else list(vector), using=using)
        request = QueryRequest(limit=limit, query=query, filter=scope_filter(scope), with_payload=True, with_vector=[DENSE])
        points = await asyncio.to_thread(self._shard.query, request)
        return [StoredHit(str(p.id), float(p.score), dict(p.payload or {}), _dense(p.vector)) for p in points]

    async def get(self, pid: str) -> dict | None:
        records = await asyncio.to_thread(self._shard.retrieve, [pid], True, False)
        return dict(records[0].payload or {}) if records else None

    async def ready(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        if self._optimizer:
            self._optimizer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._optimizer
        with self._write_lock:
            self._shard.flush()
            self._shard.close()


def _dense(vector) -> np.ndarray | None:
    if isinstance(vector, dict) and DENSE in vector:
        return np.asarray(vector[DENSE], dtype=np.float32)
    return None
