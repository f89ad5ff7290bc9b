"""gRPC surface of the rag service: the registry, chunk indexing and access-filtered search."""

from __future__ import annotations

import logging
import time
import uuid

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.errors import AppError, ErrorCode, abort
from chatbot_common.ids import is_valid_id
from chatbot_common.paging import page_from_pb, page_info
from chatbot_common.timeutil import to_timestamp
from rag.models import Document
from rag.registry import DELETING, INDEXED, ListFilter, Reader, Registry
from rag.resources import Resources
from rag.settings import RagSettings
from rag.store import ChunkPoint, Scope, point_id

log = logging.getLogger(__name__)

STATUS_TO_PB = {
    "queued": pb.DOCUMENT_STATUS_QUEUED, "processing": pb.DOCUMENT_STATUS_PROCESSING,
    "indexed": pb.DOCUMENT_STATUS_INDEXED, "failed": pb.DOCUMENT_STATUS_FAILED,
}
PB_TO_STATUS = {v: k for k, v in STATUS_TO_PB.items()}
VISIBILITIES = ("private", "tenant")
MAX_ATTEMPTS_DEFAULT = 3
MAX_BATCH_DOCUMENTS = 100


def document_to_pb(d: Document) -> pb.Document:
    return pb.Document(
        id=d.id, owner_id=d.owner_id, tenant_id=d.tenant_id, visibility=d.visibility, collection=d.collection,
        filename=d.filename, title=d.title, content_type=d.content_type, size_bytes=d.size_bytes, sha256=d.sha256,
        blob_key=d.blob_key, status=STATUS_TO_PB.get(d.status, pb.DOCUMENT_STATUS_UNSPECIFIED), error=d.error,
        chunk_count=d.chunk_count, attempts=d.attempts, page_count=d.page_count, embedding_model=d.embedding_model,
        timings=pb.DocumentTimings(parse_ms=d.parse_ms, chunk_ms=d.chunk_ms, embed_ms=d.embed_ms, index_ms=d.index_ms,
                                   total_ms=d.total_ms),
        created_at=to_timestamp(d.created_at),
        started_at=to_timestamp(d.started_at) if d.started_at else None,
        finished_at=to_timestamp(d.finished_at) if d.finished_at else None,
    )


def _reader(caller: common_pb2.Caller) -> Reader:
    if not caller.user_id:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller identity missing")
    return Reader(caller.user_id, caller.tenant_id)


def _document_id(value: str) -> str:
    if not is_valid_id(value, "doc"):
        raise AppError(ErrorCode.VALIDATION_ERROR, "malformed document id", {"field": "document_id"})
    return value


def _chunk_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise AppError(ErrorCode.VALIDATION_ERROR, "malformed chunk id", {"field": "chunk_id"}) from None


def _new_document(request: pb.CreateDocumentRequest) -> Document:
    reader = _reader(request.caller)
    visibility = request.visibility or "private"
    if visibility not in VISIBILITIES:
        raise AppError(ErrorCode.VALIDATION_ERROR, "visibility must be private or tenant", {"field": "visibility"})
    if len(request.sha256) != 64 or not request.blob_key:
        raise AppError(ErrorCode.VALIDATION_ERROR, "sha256 and blob_key are required")
    return Document(
        id=request.blob_key if is_valid_id(request.blob_key, "doc") else "",
        owner_id=reader.user_id, tenant_id=reader.tenant_id, visibility=visibility,
        collection=(request.collection or "default")[:100], filename=request.filename[:255],
        title=(request.title or request.filename)[:300], content_type=request.content_type[:100],
        size_bytes=request.size_bytes, sha256=request.sha256, blob_key=request.blob_key,
    )


def chunk_to_pb(payload: dict, chunk_id: str) -> pb.Chunk:
    return pb.Chunk(
        chunk_id=chunk_id, document_id=payload.get("document_id", ""), chunk_index=int(payload.get("chunk_index", 0)),
        text=payload.get("text", ""), title=payload.get("title", ""), section=payload.get("section", ""),
        page=int(payload.get("page", 0)), char_start=int(payload.get("char_start", 0)), char_end=int(payload.get("char_end", 0)),
        owner_id=payload.get("owner_id", ""), tenant_id=payload.get("tenant_id", ""),
        visibility=payload.get("visibility", ""), collection=payload.get("collection", ""),
    )


class RagServicer(rag_pb2_grpc.RagServiceServicer):
    def __init__(self, registry: Registry, resources: Resources, settings: RagSettings) -> None:
        self._registry = registry
        self._resources = resources
        self._settings = settings

    # --- registry -------------------------------------------------------------------------

    async def CreateDocument(self, request: pb.CreateDocumentRequest, context) -> pb.CreateDocumentResponse:
        try:
            doc, created = await self._registry.create(_new_document(request))
        except AppError as exc:
            await abort(context, exc)
        return pb.CreateDocumentResponse(document=document_to_pb(doc), created=created)

    async def CreateDocuments(self, request: pb.CreateDocumentsRequest, context) -> pb.CreateDocumentsResponse:
        try:
            if not 1 <= len(request.documents) <= MAX_BATCH_DOCUMENTS:
                raise AppError(ErrorCode.VALIDATION_ERROR, f"1 to {MAX_BATCH_DOCUMENTS} documents per call", {"field": "documents"})
            results = await self._registry.create_many([_new_document(item) for item in request.documents])
        except AppError as exc:
            await abort(context, exc)
        return pb.CreateDocumentsResponse(results=[pb.CreateDocumentResponse(document=document_to_pb(doc), created=created)
                                                   for doc, created in results])

    async def GetDocument(self, request: pb.GetDocumentRequest, context) -> pb.Document:
        try:
            doc = await self._registry.get_readable(_document_id(request.document_id), _reader(request.caller))
            if doc is None:
                raise AppError(ErrorCode.NOT_FOUND, "document not found")
        except AppError as exc:
            await abort(context, exc)
        return document_to_pb(doc)

    async def ListDocuments(self, request: pb.ListDocumentsRequest, context) -> pb.ListDocumentsResponse:
        try:
            reader = _reader(request.caller)
            if request.visibility and request.visibility not in VISIBILITIES:
                raise AppError(ErrorCode.VALIDATION_ERROR, "visibility must be private or tenant", {"field": "visibility"})
            page = page_from_pb(request.page, 20)
            flt = ListFilter(status=PB_TO_STATUS.get(request.status, ""), collection=request.collection,
                             visibility=request.visibility, owned_only=request.owned_only, query=request.query[:200])
            rows, total = await self._registry.list(reader, flt, page)
        except AppError as exc:
            await abort(context, exc)
        return pb.ListDocumentsResponse(documents=[document_to_pb(d) for d in rows], page=page_info(page, total))

    async def DeleteDocument(self, request: pb.DeleteDocumentRequest, context) -> pb.DeleteDocumentResponse:
        try:
            reader = _reader(request.caller)
            document_id = _document_id(request.document_id)
            doc = await self._registry.mark_deleting(document_id, reader.user_id)
            if doc is None:
                if await self._registry.get_readable(document_id, reader) is not None:
                    raise AppError(ErrorCode.PERMISSION_DENIED, "only the owner may delete a document")
                raise AppError(ErrorCode.NOT_FOUND, "document not found")
            store = await self._resources.store()
            deleted = await store.delete_document(document_id)
            await self._registry.remove(document_id)
            log.info("document deleted", extra={"document_id": document_id, "points": deleted})
        except AppError as exc:
            await abort(context, exc)
        return pb.DeleteDocumentResponse(deleted_points=deleted, blob_key=doc.blob_key)

    # --- privacy --------------------------------------------------------------------------

    async def ExportUserDocuments(self, request: pb.UserDocumentsRequest, context) -> pb.UserDocumentsResponse:
        try:
            reader = _reader(request.caller)
        except AppError as exc:
            await abort(context, exc)
        return pb.UserDocumentsResponse(documents=[document_to_pb(d) for d in await self._registry.owned_by(reader.user_id)])

    async def EraseUserDocuments(self, request: pb.UserDocumentsRequest, context) -> pb.EraseUserDocumentsResponse:
        try:
            reader = _reader(request.caller)
        except AppError as exc:
            await abort(context, exc)
        docs = await self._registry.tombstone_owned(reader.user_id)
        store = await self._resources.store()
        points = 0
        for doc in docs:
            points += await store.delete_document(doc.id)
            await self._registry.remove(doc.id)
        cleared = (await self._resources.retriever()).forget_queries()
        log.info("user documents erased", extra={"documents": len(docs), "points": points, "cached_queries": cleared})
        return pb.EraseUserDocumentsResponse(documents=len(docs), points=points, blob_keys=[d.blob_key for d in docs if d.blob_key])

    # --- ingestion ------------------------------------------------------------------------

    async def StartProcessing(self, request: pb.StartProcessingRequest, context) -> pb.StartProcessingResponse:
        try:
            document_id = _document_id(request.document_id)
            limit = request.time_limit_seconds or 600.0
            doc, proceed, reason = await self._registry.start_processing(document_id, MAX_ATTEMPTS_DEFAULT, limit, request.takeover)
            if doc is None:
                raise AppError(ErrorCode.NOT_FOUND, "document not found")
        except AppError as exc:
            await abort(context, exc)
        return pb.StartProcessingResponse(document=document_to_pb(doc), proceed=proceed, reason=reason)

    async def StartProcessingMany(self, request: pb.StartProcessingManyRequest, context) -> pb.StartProcessingManyResponse:
        try:
            if not 1 <= len(request.document_ids) <= MAX_BATCH_DOCUMENTS:
                raise AppError(ErrorCode.VALIDATION_ERROR, f"1 to {MAX_BATCH_DOCUMENTS} documents per call", {"field": "document_ids"})
            ids = [_document_id(document_id) for document_id in request.document_ids]
            if len(set(ids)) != len(ids):
                raise AppError(ErrorCode.VALIDATION_ERROR, "a document is named twice", {"field": "document_ids"})
            claims = await self._registry.start_processing_many(ids, MAX_ATTEMPTS_DEFAULT, request.time_limit_seconds or 600.0,
                                                                request.takeover)
        except AppError as exc:
            await abort(context, exc)
        return pb.StartProcessingManyResponse(claims=[
            pb.StartProcessingResponse(document=document_to_pb(doc) if doc else pb.Document(id=document_id), proceed=proceed,
                                       reason=reason)
            for document_id, (doc, proceed, reason) in zip(ids, claims, strict=True)])

    async def UpsertChunks(self, request: pb.UpsertChunksRequest, context) -> pb.UpsertChunksResponse:
        try:
            document_id = _document_id(request.document_id)
            await self._check_batch(request)
            store = await self._resources.store()
            doc = await self._registry.get(document_id)
            if doc is None or doc.status == DELETING:
                raise AppError(ErrorCode.NOT_FOUND, "document not found or being deleted")
            points = await self._points(request, doc)
            started = time.perf_counter()
            await store.upsert(points)
            if request.HasField("finish"):
                _count_write(request.finish, started)
                # The finishing transaction sees a delete that raced this write and removes the points.
                finished = await self._finish(document_id, request.finish, only_attempt=doc.attempts <= 1)
                return pb.UpsertChunksResponse(upserted=len(points), document=document_to_pb(finished))
            if not await self._registry.is_live(document_id):
                # Deleted while we wrote: take our points back out, so nothing outlives the delete.
                await store.delete_document(document_id)
                raise AppError(ErrorCode.NOT_FOUND, "document deleted during indexing")
        except AppError as exc:
            await abort(context, exc)
        return pb.UpsertChunksResponse(upserted=len(points))

    async def IndexDocuments(self, request: pb.IndexDocumentsRequest, context) -> pb.IndexDocumentsResponse:
        """Whole small documents at once: one write of all their points, one transaction
        finishing them all. A document deleted meanwhile is reported, not fatal to the rest."""
        try:
            items = list(request.documents)
            if not 1 <= len(items) <= MAX_BATCH_DOCUMENTS:
                raise AppError(ErrorCode.VALIDATION_ERROR, f"1 to {MAX_BATCH_DOCUMENTS} documents per call", {"field": "documents"})
            ids = [_document_id(item.document_id) for item in items]
            if len(set(ids)) != len(ids):
                raise AppError(ErrorCode.VALIDATION_ERROR, "a document is named twice", {"field": "documents"})
            for item in items:
                await self._check_batch(item)
                if not item.HasField("finish"):
                    raise AppError(ErrorCode.VALIDATION_ERROR, "each document must be complete and carry its finish")
            docs = await self._registry.get_many(ids)
            live = [(item, docs[i]) for item, i in zip(items, ids, strict=True) if i in docs and docs[i].status != DELETING]
            points = [point for item, doc in live for point in await self._points(item, doc)]
            store = await self._resources.store()
            started = time.perf_counter()
            if points:
                await store.upsert(points)
            finishing = []
            for item, doc in live:
                _count_write(item.finish, started)
                finishing.append((doc.id, await self._finish_values(doc.id, item.finish, only_attempt=doc.attempts <= 1)))
            finished = await self._registry.finish_many(finishing, success=True) if finishing else []
        except AppError as exc:
            await abort(context, exc)
        results = {}
        for (item, _), doc in zip(live, finished, strict=True):
            if doc is None or doc.status == DELETING:
                # Deleted while we wrote: take its points back out, so nothing outlives the delete.
                await store.delete_document(item.document_id)
                continue
            results[doc.id] = pb.IndexedDocument(document_id=doc.id, upserted=len(item.chunks), document=document_to_pb(doc))
        return pb.IndexDocumentsResponse(results=[
            results.get(i) or pb.IndexedDocument(document_id=i, error="document not found or being deleted") for i in ids])

    async def _check_batch(self, request: pb.UpsertChunksRequest) -> None:
        await self._resources.retriever()  # the embedder is loaded: its id and size are known
        model_id = self._resources.embedder_id()
        if request.embedding_model != model_id:
            raise AppError(ErrorCode.VALIDATION_ERROR,
                           f"chunks were embedded by {request.embedding_model!r}; this collection uses {model_id!r}")
        if request.HasField("finish") and (request.finish.document_id not in ("", request.document_id) or not request.finish.success):
            raise AppError(ErrorCode.VALIDATION_ERROR, "a batch can only finish its own document, successfully")
        dimensions = self._resources.dimensions()
        if any(len(chunk.dense) != dimensions for chunk in request.chunks):
            raise AppError(ErrorCode.VALIDATION_ERROR, "dense vector has the wrong size")

    async def _points(self, request: pb.UpsertChunksRequest, doc: Document) -> list[ChunkPoint]:
        retriever = await self._resources.retriever()
        model_id = self._resources.embedder_id()
        points = []
        for chunk in request.chunks:
            if chunk.sparse.indices:
                indices, values = list(chunk.sparse.indices), list(chunk.sparse.values)
            else:
                indices, values = retriever.sparse.document(chunk.text)
            pid = point_id(doc.id, chunk.chunk_index)
            payload = {
                "document_id": doc.id, "chunk_id": pid, "chunk_index": chunk.chunk_index, "text": chunk.text,
                "title": chunk.title or doc.title, "section": chunk.section, "page": chunk.page,
                "char_start": chunk.char_start, "char_end": chunk.char_end,
                # Access fields come from the registry, never from the caller.
                "owner_id": doc.owner_id, "tenant_id": doc.tenant_id, "visibility": doc.visibility,
                "collection": doc.collection, "embedding_model": model_id,
            }
            points.append(ChunkPoint(pid, list(chunk.dense), indices, values, payload))
        return points

    async def FinishDocument(self, request: pb.FinishDocumentRequest, context) -> pb.Document:
        try:
            doc = await self._finish(_document_id(request.document_id), request)
        except AppError as exc:
            await abort(context, exc)
        return document_to_pb(doc)

    async def _finish(self, document_id: str, request: pb.FinishDocumentRequest, only_attempt: bool = False):
        values = await self._finish_values(document_id, request, only_attempt)
        doc = await self._registry.finish(document_id, values, success=request.success, retrying=request.retrying)
        if doc is None:
            raise AppError(ErrorCode.NOT_FOUND, "document not found")
        if doc.status == DELETING:
            store = await self._resources.store()
            await store.delete_document(document_id)
        return doc

    async def _finish_values(self, document_id: str, request: pb.FinishDocumentRequest, only_attempt: bool) -> dict:
        """The registry columns an attempt's end sets. `only_attempt`: the document was claimed
        once, so no earlier attempt left points behind and the points written are the chunks counted."""
        t = request.timings
        values: dict = {"parse_ms": t.parse_ms, "chunk_ms": t.chunk_ms, "embed_ms": t.embed_ms,
                        "index_ms": t.index_ms, "total_ms": t.total_ms, "page_count": request.page_count}
        if request.title:
            values["title"] = request.title[:300]
        if request.success:
            if only_attempt:
                values["chunk_count"] = request.chunk_count
            else:
                store = await self._resources.store()
                # Chunks beyond this attempt's count belong to an earlier, different attempt.
                await store.delete_chunks_from(document_id, request.chunk_count)
                values["chunk_count"] = await store.count(document_id)
            values["embedding_model"] = self._resources.embedder_id()
            values["error"] = ""
        else:
            values["error"] = request.error[:2000] or "ingestion failed"
        return values

    async def ReapStale(self, request: pb.ReapStaleRequest, context) -> pb.ReapStaleResponse:
        requeue, failed = await self._registry.reap_stale(request.time_limit_seconds or 600.0,
                                                          request.max_attempts or MAX_ATTEMPTS_DEFAULT)
        if requeue or failed:
            log.warning("stale documents reaped", extra={"requeued": len(requeue), "failed": len(failed)})
        return pb.ReapStaleResponse(requeue_document_ids=requeue, failed_document_ids=failed)

    # --- retrieval ------------------------------------------------------------------------

    async def Search(self, request: pb.SearchRequest, context) -> pb.SearchResponse:
        try:
            reader = _reader(request.caller)
            query = request.query.strip()
            if not query:
                raise AppError(ErrorCode.VALIDATION_ERROR, "query must not be empty", {"field": "query"})
            top_k = request.top_k or self._settings.top_k
            if not 1 <= top_k <= self._settings.max_top_k:
                raise AppError(ErrorCode.VALIDATION_ERROR, f"top_k must be 1..{self._settings.max_top_k}")
            for document_id in request.document_ids:
                _document_id(document_id)
            searchable = await self._registry.count_searchable(reader)
            if searchable == 0:
                return pb.SearchResponse(searchable_documents=0)
            retriever = await self._resources.retriever()
            scope = Scope(reader.user_id, reader.tenant_id, tuple(request.collections), tuple(request.document_ids))
            threshold = request.score_threshold if request.HasField("score_threshold") else None
            passages, took_ms = await retriever.search(query[:4000], scope, top_k, threshold=threshold, hybrid=not request.dense_only)
        except AppError as exc:
            await abort(context, exc)
        return pb.SearchResponse(
            hits=[pb.SearchHit(chunk=chunk_to_pb(p.payload, p.id), score=p.score, rank_score=p.rank_score, snippet=p.snippet)
                  for p in passages],
            searchable_documents=searchable, took_ms=took_ms,
        )

    async def GetChunk(self, request: pb.GetChunkRequest, context) -> pb.Chunk:
        try:
            reader = _reader(request.caller)
            document_id = _document_id(request.document_id)
            chunk_id = _chunk_id(request.chunk_id)
            doc = await self._registry.get_readable(document_id, reader)
            if doc is None or doc.status != INDEXED:
                raise AppError(ErrorCode.NOT_FOUND, "chunk not found")
            store = await self._resources.store()
            payload = await store.get(chunk_id)
            if payload is None or payload.get("document_id") != document_id:
                raise AppError(ErrorCode.NOT_FOUND, "chunk not found")
        except AppError as exc:
            await abort(context, exc)
        return chunk_to_pb(payload, chunk_id)


def _count_write(finish: pb.FinishDocumentRequest, started: float) -> None:
    """The worker sent its timings before the write: the write's time is added here."""
    written_ms = int((time.perf_counter() - started) * 1000)
    finish.timings.index_ms += written_ms
    finish.timings.total_ms += written_ms
