"""The rag service's gRPC surface: each method maps its request to a domain call and the result
back. Errors are `AppError`s raised by the domain; the shared interceptor turns them into status."""

from __future__ import annotations

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.paging import page_from_pb, page_info
from chatbot_common.timeutil import to_timestamp
from rag.documents import Documents, NewDocument
from rag.indexing import AttemptEnd, Batch, ChunkIn, Claim, Indexed, Indexer, Timings
from rag.models import Document
from rag.registry import FAILED, INDEXED, PROCESSING, QUEUED, ListFilter, Reader
from rag.retrieval import Question, Search

STATUS_TO_PB = {QUEUED: pb.DOCUMENT_STATUS_QUEUED, PROCESSING: pb.DOCUMENT_STATUS_PROCESSING,
                INDEXED: pb.DOCUMENT_STATUS_INDEXED, FAILED: pb.DOCUMENT_STATUS_FAILED}
PB_TO_STATUS = {v: k for k, v in STATUS_TO_PB.items()}


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


def chunk_to_pb(payload: dict, chunk_id: str) -> pb.Chunk:
    return pb.Chunk(
        chunk_id=chunk_id, document_id=payload.get("document_id", ""), chunk_index=int(payload.get("chunk_index", 0)),
        text=payload.get("text", ""), title=payload.get("title", ""), section=payload.get("section", ""),
        page=int(payload.get("page", 0)), char_start=int(payload.get("char_start", 0)), char_end=int(payload.get("char_end", 0)),
        owner_id=payload.get("owner_id", ""), tenant_id=payload.get("tenant_id", ""),
        visibility=payload.get("visibility", ""), collection=payload.get("collection", ""),
    )


def _reader(caller: common_pb2.Caller) -> Reader:
    return Reader(caller.user_id, caller.tenant_id)


def _new_document(r: pb.CreateDocumentRequest) -> NewDocument:
    return NewDocument(_reader(r.caller), filename=r.filename, title=r.title, content_type=r.content_type,
                       size_bytes=r.size_bytes, sha256=r.sha256, blob_key=r.blob_key, collection=r.collection,
                       visibility=r.visibility)


def _attempt_end(r: pb.FinishDocumentRequest) -> AttemptEnd:
    t = r.timings
    return AttemptEnd(success=r.success, document_id=r.document_id, error=r.error, chunk_count=r.chunk_count,
                      page_count=r.page_count, title=r.title, retrying=r.retrying,
                      timings=Timings(t.parse_ms, t.chunk_ms, t.embed_ms, t.index_ms, t.total_ms))


def _batch(r: pb.UpsertChunksRequest) -> Batch:
    chunks = [ChunkIn(c.chunk_index, c.text, c.dense, title=c.title, section=c.section, page=c.page, char_start=c.char_start,
                      char_end=c.char_end, sparse_indices=c.sparse.indices, sparse_values=c.sparse.values) for c in r.chunks]
    return Batch(r.document_id, r.embedding_model, chunks, _attempt_end(r.finish) if r.HasField("finish") else None)


def _claim_to_pb(c: Claim) -> pb.Claim:
    return pb.Claim(document=document_to_pb(c.document) if c.document else pb.Document(id=c.document_id), proceed=c.proceed,
                    reason=c.reason)


def _indexed_to_pb(i: Indexed) -> pb.IndexedDocument:
    if i.document is None:
        return pb.IndexedDocument(document_id=i.document_id, error=i.error)
    return pb.IndexedDocument(document_id=i.document_id, upserted=i.upserted, document=document_to_pb(i.document))


class RagServicer(rag_pb2_grpc.RagServiceServicer):
    def __init__(self, documents: Documents, indexer: Indexer, search: Search) -> None:
        self._documents = documents
        self._indexer = indexer
        self._search = search

    # --- documents ------------------------------------------------------------------------

    async def CreateDocuments(self, request: pb.CreateDocumentsRequest, context) -> pb.CreateDocumentsResponse:
        results = await self._documents.register([_new_document(item) for item in request.documents])
        return pb.CreateDocumentsResponse(results=[pb.CreateDocumentResponse(document=document_to_pb(doc), created=created)
                                                   for doc, created in results])

    async def GetDocument(self, request: pb.GetDocumentRequest, context) -> pb.Document:
        return document_to_pb(await self._documents.get(_reader(request.caller), request.document_id))

    async def ListDocuments(self, request: pb.ListDocumentsRequest, context) -> pb.ListDocumentsResponse:
        reader = _reader(request.caller)
        page = page_from_pb(request.page, 20)
        flt = ListFilter(status=PB_TO_STATUS.get(request.status, ""), collection=request.collection,
                         visibility=request.visibility, owned_only=request.owned_only, query=request.query)
        rows, total = await self._documents.list(reader, flt, page)
        return pb.ListDocumentsResponse(documents=[document_to_pb(d) for d in rows], page=page_info(page, total))

    async def SetDocumentVisibility(self, request: pb.SetDocumentVisibilityRequest, context) -> pb.Document:
        return document_to_pb(await self._documents.set_visibility(_reader(request.caller), request.document_id, request.visibility,
                                                                   tenant_admin=request.as_tenant_admin))

    async def DeleteDocument(self, request: pb.DeleteDocumentRequest, context) -> pb.DeleteDocumentResponse:
        deleted, blob_key = await self._documents.delete(_reader(request.caller), request.document_id)
        return pb.DeleteDocumentResponse(deleted_points=deleted, blob_key=blob_key)

    async def ExportUserDocuments(self, request: pb.UserDocumentsRequest, context) -> pb.UserDocumentsResponse:
        return pb.UserDocumentsResponse(documents=[document_to_pb(d) for d in await self._documents.owned(_reader(request.caller))])

    async def EraseUserDocuments(self, request: pb.UserDocumentsRequest, context) -> pb.EraseUserDocumentsResponse:
        erased = await self._documents.erase(_reader(request.caller))
        return pb.EraseUserDocumentsResponse(documents=erased.documents, points=erased.points, blob_keys=erased.blob_keys)

    # --- ingestion ------------------------------------------------------------------------

    async def StartProcessingMany(self, request: pb.StartProcessingManyRequest, context) -> pb.StartProcessingManyResponse:
        claims = await self._indexer.claim(request.document_ids, time_limit_seconds=request.time_limit_seconds,
                                           max_attempts=request.max_attempts, takeover=request.takeover)
        return pb.StartProcessingManyResponse(claims=[_claim_to_pb(c) for c in claims])

    async def UpsertChunks(self, request: pb.UpsertChunksRequest, context) -> pb.UpsertChunksResponse:
        upserted, finished = await self._indexer.upsert(_batch(request))
        return pb.UpsertChunksResponse(upserted=upserted, document=document_to_pb(finished) if finished else None)

    async def IndexDocuments(self, request: pb.IndexDocumentsRequest, context) -> pb.IndexDocumentsResponse:
        results = await self._indexer.index_documents([_batch(item) for item in request.documents])
        return pb.IndexDocumentsResponse(results=[_indexed_to_pb(i) for i in results])

    async def FinishDocument(self, request: pb.FinishDocumentRequest, context) -> pb.Document:
        return document_to_pb(await self._indexer.finish(request.document_id, _attempt_end(request)))

    async def ReapStale(self, request: pb.ReapStaleRequest, context) -> pb.ReapStaleResponse:
        requeue, failed = await self._indexer.reap_stale(time_limit_seconds=request.time_limit_seconds,
                                                         max_attempts=request.max_attempts)
        return pb.ReapStaleResponse(requeue_document_ids=requeue, failed_document_ids=failed)

    # --- retrieval ------------------------------------------------------------------------

    async def Search(self, request: pb.SearchRequest, context) -> pb.SearchResponse:
        question = Question(request.query, request.top_k, tuple(request.collections), tuple(request.document_ids),
                            request.score_threshold if request.HasField("score_threshold") else None, not request.dense_only)
        found = await self._search.search(_reader(request.caller), question)
        return pb.SearchResponse(
            hits=[pb.SearchHit(chunk=chunk_to_pb(p.payload, p.id), score=p.score, rank_score=p.rank_score, snippet=p.snippet)
                  for p in found.passages],
            searchable_documents=found.searchable_documents, took_ms=found.took_ms,
        )

    async def GetChunk(self, request: pb.GetChunkRequest, context) -> pb.Chunk:
        chunk_id, payload = await self._search.chunk(_reader(request.caller), request.document_id, request.chunk_id)
        return chunk_to_pb(payload, chunk_id)
