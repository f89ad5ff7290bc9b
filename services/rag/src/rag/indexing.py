"""Ingestion's side of the rag service, called by the worker: claiming documents, writing their
chunks as points, ending each attempt, and reaping attempts whose worker died.

A delete may come at any moment (`documents.py`): it tombstones the record (`deleting`) first,
then removes the vectors, then the record. A write that began before the tombstone can land
after the vectors were removed, so every write looks again once it is done: a batch that ends
its document does so in the registry's transaction, which leaves a tombstoned record alone and
hands it back, and the points are taken out again; any other batch checks that the record is
still live, and takes its points out if not. Nothing written outlives a delete.

Sharing may come at any moment too: points carry the visibility the record had when the batch
was built, so once written, the record is read again (in the same transaction or check as above)
and a visibility changed meanwhile is settled onto the points (`documents.settle_visibility`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chatbot_common.errors import AppError, ErrorCode
from rag.documents import settle_visibility
from rag.models import Document
from rag.registry import DELETING, Registry, valid_document_id, valid_document_ids
from rag.sparse import SparseEncoder
from rag.store import ChunkPoint, point_id

if TYPE_CHECKING:
    from rag.resources import Resources

log = logging.getLogger(__name__)

@dataclass(slots=True)
class ChunkIn:
    """A chunk as the worker sends it: embedded, with its place in the document."""

    chunk_index: int
    text: str
    dense: Sequence[float]
    title: str = ""
    section: str = ""
    page: int = 0
    char_start: int = 0
    char_end: int = 0
    # Empty: computed here from the text.
    sparse_indices: Sequence[int] = ()
    sparse_values: Sequence[float] = ()


@dataclass(slots=True)
class Timings:
    parse_ms: int = 0
    chunk_ms: int = 0
    embed_ms: int = 0
    index_ms: int = 0
    total_ms: int = 0


@dataclass(slots=True)
class AttemptEnd:
    """How an ingestion attempt ended, as the worker reports it."""

    success: bool
    document_id: str = ""  # on a batch: empty, or the batch's own document
    error: str = ""
    chunk_count: int = 0
    page_count: int = 0
    title: str = ""  # the parsed title, when the document has one
    retrying: bool = False  # a failed attempt that will be retried: back to queued
    timings: Timings = field(default_factory=Timings)


@dataclass(slots=True)
class Batch:
    document_id: str
    embedding_model: str
    chunks: list[ChunkIn]
    end: AttemptEnd | None = None  # on a document's last batch: the attempt ends with this write


@dataclass(slots=True)
class Claim:
    document_id: str
    document: Document | None
    proceed: bool
    reason: str  # why not, when not


@dataclass(slots=True)
class Indexed:
    document_id: str
    upserted: int = 0
    document: Document | None = None
    error: str = ""


def chunk_payload(doc: Document, chunk: ChunkIn, pid: str, model_id: str) -> dict:
    """What a stored point carries: the chunk, and the access fields search filters on. Those
    come from the registry's record, never from the caller."""
    return {
        "document_id": doc.id, "chunk_id": pid, "chunk_index": chunk.chunk_index, "text": chunk.text,
        "title": chunk.title or doc.title, "section": chunk.section, "page": chunk.page,
        "char_start": chunk.char_start, "char_end": chunk.char_end,
        "owner_id": doc.owner_id, "tenant_id": doc.tenant_id, "visibility": doc.visibility,
        "collection": doc.collection, "embedding_model": model_id,
    }


def chunk_points(doc: Document, chunks: list[ChunkIn], sparse: SparseEncoder, model_id: str) -> list[ChunkPoint]:
    points = []
    encoded: dict[tuple[str, str, str], tuple[list[int], list[float]]] = {}  # the pieces of one passage share it
    for chunk in chunks:
        if chunk.sparse_indices:
            indices, values = list(chunk.sparse_indices), list(chunk.sparse_values)
        else:
            key = (chunk.text, chunk.title or doc.title, chunk.section)
            if key not in encoded:
                encoded[key] = sparse.document(chunk.text, key[1:])
            indices, values = encoded[key]
        pid = point_id(doc.id, chunk.chunk_index)
        points.append(ChunkPoint(pid, list(chunk.dense), indices, values, chunk_payload(doc, chunk, pid, model_id)))
    return points


def add_write_time(end: AttemptEnd, started: float) -> None:
    """The worker measured its timings before sending the write; the write's own time is added here."""
    written_ms = int((time.perf_counter() - started) * 1000)
    end.timings.index_ms += written_ms
    end.timings.total_ms += written_ms


def check_batch(batch: Batch, model_id: str, dimensions: int) -> None:
    """Vectors of one collection come from one embedder; a batch may end only its own document."""
    if batch.embedding_model != model_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"chunks were embedded by {batch.embedding_model!r}; this collection uses {model_id!r}")
    if batch.end is not None and (batch.end.document_id not in ("", batch.document_id) or not batch.end.success):
        raise AppError(ErrorCode.VALIDATION_ERROR, "a batch can only finish its own document, successfully")
    if any(len(chunk.dense) != dimensions for chunk in batch.chunks):
        raise AppError(ErrorCode.VALIDATION_ERROR, "dense vector has the wrong size")


def _check_worker_limits(time_limit_seconds: float, max_attempts: int) -> None:
    if time_limit_seconds <= 0 or max_attempts < 1:
        raise AppError(ErrorCode.VALIDATION_ERROR, "time_limit_seconds and max_attempts must be positive")


class Indexer:
    def __init__(self, registry: Registry, resources: Resources) -> None:
        self._registry = registry
        self._resources = resources

    async def claim(self, document_ids: Sequence[str], *, time_limit_seconds: float, max_attempts: int,
                    takeover: bool) -> list[Claim]:
        """The worker's time limit and attempts are its configuration; it sends them with each claim."""
        ids = valid_document_ids(document_ids, "document_ids")
        _check_worker_limits(time_limit_seconds, max_attempts)
        claims = await self._registry.start_processing_many(ids, max_attempts, time_limit_seconds, takeover)
        return [Claim(i, doc, proceed, reason) for i, (doc, proceed, reason) in zip(ids, claims, strict=True)]

    async def _model(self) -> tuple[SparseEncoder, str, int]:
        # Waits for the embedder to load: a batch must not be judged against an unknown model id.
        retriever = await self._resources.retriever()
        return retriever.sparse, self._resources.embedder_id(), self._resources.dimensions()

    async def upsert(self, batch: Batch) -> tuple[int, Document | None]:
        """Writes one batch of a document's chunks; the document too, when the batch ends the attempt."""
        document_id = valid_document_id(batch.document_id)
        sparse, model_id, dimensions = await self._model()
        check_batch(batch, model_id, dimensions)
        store = await self._resources.store()
        doc = await self._registry.get(document_id)
        if doc is None or doc.status == DELETING:
            raise AppError(ErrorCode.NOT_FOUND, "document not found or being deleted")
        points = chunk_points(doc, batch.chunks, sparse, model_id)
        started = time.perf_counter()
        await store.upsert(points)
        if batch.end is not None:
            add_write_time(batch.end, started)
            finished = await self.finish(document_id, batch.end, only_attempt=doc.attempts <= 1)
            if finished.status != DELETING:
                await self._keep_visibility(document_id, doc.visibility, finished.visibility)
            return len(points), finished
        current = await self._registry.visibility_of(document_id)
        if current is None:
            await store.delete_document(document_id)
            raise AppError(ErrorCode.NOT_FOUND, "document deleted during indexing")
        await self._keep_visibility(document_id, doc.visibility, current)
        return len(points), None

    async def _keep_visibility(self, document_id: str, written: str, current: str) -> None:
        """The points were written with `written`; the record, read after the write, says `current`."""
        if current != written:
            await settle_visibility(self._registry, await self._resources.store(), document_id, current)

    async def index_documents(self, batches: list[Batch]) -> list[Indexed]:
        """Whole small documents at once: one write of all their points, one transaction ending
        them all. A document deleted meanwhile is reported, not fatal to the rest."""
        ids = valid_document_ids([batch.document_id for batch in batches], "documents")
        sparse, model_id, dimensions = await self._model()
        for batch in batches:
            check_batch(batch, model_id, dimensions)
            if batch.end is None:
                raise AppError(ErrorCode.VALIDATION_ERROR, "each document must be complete and carry its finish")
        docs = await self._registry.get_many(ids)
        live = [(batch, docs[i]) for batch, i in zip(batches, ids, strict=True) if i in docs and docs[i].status != DELETING]
        points = [point for batch, doc in live for point in chunk_points(doc, batch.chunks, sparse, model_id)]
        store = await self._resources.store()
        started = time.perf_counter()
        if points:
            await store.upsert(points)
        ending = []
        for batch, doc in live:
            add_write_time(batch.end, started)
            ending.append((doc.id, await self._end_values(doc.id, batch.end, only_attempt=doc.attempts <= 1)))
        finished = await self._registry.finish_many(ending, success=True) if ending else []
        results = {}
        for (batch, written), doc in zip(live, finished, strict=True):
            if doc is None or doc.status == DELETING:
                await store.delete_document(batch.document_id)  # deleted while we wrote
                continue
            await self._keep_visibility(doc.id, written.visibility, doc.visibility)
            results[doc.id] = Indexed(doc.id, len(batch.chunks), doc)
        return [results.get(i) or Indexed(i, error="document not found or being deleted") for i in ids]

    async def finish(self, document_id: str, end: AttemptEnd, *, only_attempt: bool = False) -> Document:
        values = await self._end_values(valid_document_id(document_id), end, only_attempt)
        doc = await self._registry.finish(document_id, values, success=end.success, retrying=end.retrying)
        if doc is None or doc.status == DELETING:
            # Deleted meanwhile, maybe entirely (record gone too): a write just before must not outlive it.
            await (await self._resources.store()).delete_document(document_id)
        if doc is None:
            raise AppError(ErrorCode.NOT_FOUND, "document not found")
        return doc

    async def _end_values(self, document_id: str, end: AttemptEnd, only_attempt: bool) -> dict:
        """The registry columns an attempt's end sets. `only_attempt`: the document was claimed
        once, so no earlier attempt left points behind and the points written are the chunks counted."""
        t = end.timings
        values: dict = {"parse_ms": t.parse_ms, "chunk_ms": t.chunk_ms, "embed_ms": t.embed_ms,
                        "index_ms": t.index_ms, "total_ms": t.total_ms, "page_count": end.page_count}
        if end.title:
            values["title"] = end.title[:300]
        if end.success:
            if only_attempt:
                values["chunk_count"] = end.chunk_count
            else:
                store = await self._resources.store()
                # Chunks beyond this attempt's count belong to an earlier, different attempt.
                await store.delete_chunks_from(document_id, end.chunk_count)
                values["chunk_count"] = await store.count(document_id)
            values["embedding_model"] = self._resources.embedder_id()
            values["error"] = ""
        else:
            values["error"] = end.error[:2000] or "ingestion failed"
        return values

    async def reap_stale(self, *, time_limit_seconds: float, max_attempts: int) -> tuple[list[str], list[str]]:
        """Documents left `processing` past the worker's time limit: (to enqueue again, failed)."""
        _check_worker_limits(time_limit_seconds, max_attempts)
        requeue, failed = await self._registry.reap_stale(time_limit_seconds, max_attempts)
        if requeue or failed:
            log.warning("stale documents reaped", extra={"requeued": len(requeue), "failed": len(failed)})
        return requeue, failed
