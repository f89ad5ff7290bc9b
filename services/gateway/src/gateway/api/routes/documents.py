"""The knowledge base over REST: uploads (202, ingested by the worker), the document list,
status, deletion, cited passages and search. Access rules are the rag service's."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import unicodedata
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot_common.blobstore import BlobStore
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.filetypes import UnsupportedFile, sniff
from chatbot_common.ids import id_pattern, new_id
from chatbot_common.timeutil import iso
from gateway import audit
from gateway.api.deps import DocumentReader, DocumentWriter, DownstreamDep, SettingsDep, caller_pb
from gateway.identity import roles
from gateway.api.routes.conversations import Pagination
from gateway.grpc_clients import Downstream
from gateway.ingest import IngestQueue

log = logging.getLogger(__name__)
router = APIRouter(tags=["documents"])

DocumentId = Annotated[str, Path(pattern=id_pattern("doc"), description="doc_ followed by 32 hex digits")]
ChunkId = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description="a chunk's UUID")]
Status = Literal["queued", "processing", "indexed", "failed"]
Visibility = Literal["private", "tenant"]
Collection = Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9._-]*$")]
STATUS_NAMES = {pb.DOCUMENT_STATUS_QUEUED: "queued", pb.DOCUMENT_STATUS_PROCESSING: "processing",
                pb.DOCUMENT_STATUS_INDEXED: "indexed", pb.DOCUMENT_STATUS_FAILED: "failed"}
STATUS_VALUES = {v: k for k, v in STATUS_NAMES.items()}
_COLLECTION = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class Timings(BaseModel):
    parse_ms: int
    chunk_ms: int
    embed_ms: int
    index_ms: int
    total_ms: int


class DocumentOut(BaseModel):
    id: str
    filename: str
    title: str
    content_type: str
    size_bytes: int
    sha256: str
    collection: str
    visibility: str
    status: Status
    error: str | None
    chunk_count: int
    page_count: int
    attempts: int
    owned: bool
    timings: Timings
    created_at: str
    started_at: str | None
    finished_at: str | None


class UploadedDocument(BaseModel):
    id: str
    filename: str
    status: Status
    duplicate: bool = Field(description="the same content was uploaded before; this is that document")


class UploadOut(BaseModel):
    documents: list[UploadedDocument]


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    pagination: Pagination


class ChunkOut(BaseModel):
    chunk_id: str
    document_id: str
    chunk_index: int
    text: str
    title: str
    section: str
    page: int | None
    char_start: int
    char_end: int


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4_000)
    top_k: int = Field(5, ge=1, le=50)
    collections: list[Collection] = Field(default_factory=list, max_length=20)
    document_ids: list[Annotated[str, Field(pattern=id_pattern("doc"))]] = Field(default_factory=list, max_length=100)
    hybrid: bool = True
    score_threshold: float | None = Field(None, ge=-1.0, le=1.0)


class SearchHitOut(BaseModel):
    chunk: ChunkOut
    score: float
    rank_score: float
    snippet: str


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    searchable_documents: int
    took_ms: int


def _ts(value) -> str | None:
    return iso(value.ToDatetime(tzinfo=UTC)) if value.seconds or value.nanos else None


def document_out(d: pb.Document, user_id: str) -> DocumentOut:
    t = d.timings
    return DocumentOut(
        id=d.id, filename=d.filename, title=d.title, content_type=d.content_type, size_bytes=d.size_bytes, sha256=d.sha256,
        collection=d.collection, visibility=d.visibility, status=STATUS_NAMES.get(d.status, "queued"), error=d.error or None,
        chunk_count=d.chunk_count, page_count=d.page_count, attempts=d.attempts, owned=d.owner_id == user_id,
        timings=Timings(parse_ms=t.parse_ms, chunk_ms=t.chunk_ms, embed_ms=t.embed_ms, index_ms=t.index_ms, total_ms=t.total_ms),
        created_at=_ts(d.created_at) or "", started_at=_ts(d.started_at), finished_at=_ts(d.finished_at),
    )


def chunk_out(c: pb.Chunk) -> ChunkOut:
    return ChunkOut(chunk_id=c.chunk_id, document_id=c.document_id, chunk_index=c.chunk_index, text=c.text, title=c.title,
                    section=c.section, page=c.page or None, char_start=c.char_start, char_end=c.char_end)


def display_name(filename: str | None) -> str:
    """The client's filename for display only: last path component, no control characters.
    It is never used to build a path."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".") or "upload"
    return name[:255]


def _title(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[_-]+", " ", stem).strip() or name


async def _read_limited(upload: UploadFile, limit: int, name: str) -> bytes:
    if upload.size is not None and upload.size > limit:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"{name} is over the {limit}-byte limit", {"file": name, "limit": limit})
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"{name} is over the {limit}-byte limit", {"file": name, "limit": limit})
    return data


async def register_files(
    downstream: Downstream, blobs: BlobStore, caller: common_pb2.Caller, files: list[tuple[str, bytes, str]], *,
    collection: str, visibility: str, call_timeout: float,
) -> list[tuple[UploadedDocument, bool]]:
    """Stores the bytes of each (name, data, content type) and registers the documents in one
    call, not yet enqueued; True for each new one. A duplicate (same owner, same sha256) returns
    the existing document and keeps no second blob. All or none are registered."""
    keys = [new_id("doc") for _ in files]

    def delete(which: list[str]) -> None:
        for key in which:
            blobs.delete(key)

    def put_all() -> None:
        try:
            for key, (_, data, _) in zip(keys, files, strict=True):
                blobs.put(key, data)
        except OSError:
            log.exception("blob store write failed")
            try:
                delete(keys)  # no blob without a record, not even part of an upload
            except OSError:
                log.warning("could not remove the partial upload's blobs")
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the file store cannot take the upload now; try again") from None

    await asyncio.to_thread(put_all)
    try:
        reply = await downstream.rag.CreateDocuments(pb.CreateDocumentsRequest(documents=[pb.CreateDocumentRequest(
            caller=caller, filename=name, title=_title(name), content_type=content_type, size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(), blob_key=key, collection=collection, visibility=visibility,
        ) for key, (name, data, content_type) in zip(keys, files, strict=True)]), timeout=call_timeout)
    except AppError:
        await asyncio.to_thread(delete, keys)
        raise
    out = []
    for result in reply.results:
        doc = result.document
        status_name = "queued" if result.created else STATUS_NAMES.get(doc.status, "queued")
        out.append((UploadedDocument(id=doc.id, filename=doc.filename, status=status_name, duplicate=not result.created),
                    result.created))
    await asyncio.to_thread(delete, [key for key, result in zip(keys, reply.results, strict=True) if not result.created])
    return out


async def enqueue_new(downstream: Downstream, blobs: BlobStore, queue: IngestQueue, caller: common_pb2.Caller,
                      document_ids: list[str], *, call_timeout: float, request_id: str) -> None:
    """Enqueues newly registered documents; if the queue is down, takes them back (no record
    without a task, no blob without a record: a new document's blob key is its id)."""
    if not document_ids:
        return
    try:
        await queue.enqueue(document_ids, request_id)
    except Exception:
        log.exception("enqueue failed", extra={"documents": document_ids})
        for document_id in document_ids:
            try:
                await downstream.rag.DeleteDocument(pb.DeleteDocumentRequest(caller=caller, document_id=document_id),
                                                    timeout=call_timeout)
            except AppError:
                log.warning("could not remove the unqueued document", extra={"document_id": document_id})
            await asyncio.to_thread(blobs.delete, document_id)
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the ingestion queue is unavailable; try again") from None


@router.post("/documents", status_code=status.HTTP_202_ACCEPTED, response_model=UploadOut,
             summary="Upload documents; they are ingested in the background")
async def upload_documents(
    request: Request,
    principal: DocumentWriter,
    downstream: DownstreamDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="one or more files: PDF, DOCX, HTML, Markdown, text")],
    collection: Annotated[str, Form(max_length=100)] = "default",
    visibility: Annotated[Visibility, Form()] = "private",
) -> UploadOut:
    if not files:
        raise AppError(ErrorCode.VALIDATION_ERROR, "no file in the request", {"field": "files"})
    if len(files) > settings.max_upload_files:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"at most {settings.max_upload_files} files per request", {"field": "files"})
    if not _COLLECTION.fullmatch(collection):
        raise AppError(ErrorCode.VALIDATION_ERROR, "collection: 1-100 letters, digits, '.', '_' or '-'", {"field": "collection"})
    if visibility == "tenant" and not principal.can(roles.DOCUMENTS_SHARE):
        raise AppError(ErrorCode.PERMISSION_DENIED, "sharing with the tenant needs the 'documents:share' permission",
                       {"permission": roles.DOCUMENTS_SHARE})
    # Every file is checked before any is stored: a bad file rejects the request, nothing half-done.
    checked: list[tuple[str, bytes, str]] = []
    for upload in files:
        name = display_name(upload.filename)
        data = await _read_limited(upload, settings.max_upload_bytes, name)
        if not data:
            raise AppError(ErrorCode.VALIDATION_ERROR, f"{name} is empty", {"file": name})
        try:
            kind = sniff(data, name)
        except UnsupportedFile as exc:
            raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"{name}: {exc}", {"file": name}) from None
        checked.append((name, data, kind.content_type))
    caller = caller_pb(principal)
    blobs = request.app.state.blobs
    registered = await register_files(downstream, blobs, caller, checked, collection=collection, visibility=visibility,
                                      call_timeout=settings.call_timeout_seconds)
    out = [document for document, _ in registered]
    # One upload's documents are ingested together.
    await enqueue_new(downstream, blobs, request.app.state.ingest, caller, [d.id for d, created in registered if created],
                      call_timeout=settings.call_timeout_seconds, request_id=request.state.request_id)
    # One entry per document, so that each is found by its id; written together.
    await audit.write_all(request.app.state.sessions, [audit.by(
        principal, "document.upload", request, target_type="document", target_id=d.id,
        details={"duplicate": d.duplicate, "visibility": visibility, "collection": collection, "files_in_upload": len(out)},
    ) for d in out])
    return UploadOut(documents=out)


@router.get("/documents", response_model=DocumentList, summary="Documents the caller can read")
async def list_documents(
    principal: DocumentReader,
    downstream: DownstreamDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    collection: Annotated[str | None, Query(max_length=100)] = None,
    visibility: Annotated[Visibility | None, Query()] = None,
    owned: Annotated[bool, Query(description="only the caller's own documents")] = False,
    q: Annotated[str | None, Query(max_length=200, description="substring of the title or filename")] = None,
) -> DocumentList:
    reply = await downstream.rag.ListDocuments(pb.ListDocumentsRequest(
        caller=caller_pb(principal), page=common_pb2.PageRequest(limit=limit, offset=offset),
        status=STATUS_VALUES.get(status_ or "", pb.DOCUMENT_STATUS_UNSPECIFIED), collection=collection or "",
        visibility=visibility or "", owned_only=owned, query=q or "",
    ), timeout=settings.call_timeout_seconds)
    p = reply.page
    return DocumentList(documents=[document_out(d, principal.user_id) for d in reply.documents],
                        pagination=Pagination(total=p.total, limit=p.limit, offset=p.offset, has_more=p.has_more))


@router.get("/documents/{document_id}", response_model=DocumentOut, summary="A document's status, error, counts and timings")
async def get_document(document_id: DocumentId, principal: DocumentReader, downstream: DownstreamDep, settings: SettingsDep) -> DocumentOut:
    doc = await downstream.rag.GetDocument(pb.GetDocumentRequest(caller=caller_pb(principal), document_id=document_id),
                                           timeout=settings.call_timeout_seconds)
    return document_out(doc, principal.user_id)


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a document: its file, its record and every vector")
async def delete_document(
    request: Request, document_id: DocumentId, principal: DocumentWriter, downstream: DownstreamDep, settings: SettingsDep
) -> Response:
    try:
        reply = await downstream.rag.DeleteDocument(pb.DeleteDocumentRequest(caller=caller_pb(principal), document_id=document_id),
                                                    timeout=settings.call_timeout_seconds)
    except AppError as refused:
        if refused.code in (ErrorCode.PERMISSION_DENIED, ErrorCode.NOT_FOUND):  # someone else's document, or probing ids
            await audit.write(request.app.state.sessions, audit.by(principal, "document.delete", request, outcome="failure",
                                                                   target_type="document", target_id=document_id,
                                                                   details={"reason": refused.code.value}))
        raise
    if reply.blob_key:
        await asyncio.to_thread(request.app.state.blobs.delete, reply.blob_key)
    await audit.write(request.app.state.sessions, audit.by(principal, "document.delete", request, target_type="document",
                                                           target_id=document_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/documents/{document_id}/chunks/{chunk_id}", response_model=ChunkOut, summary="The whole passage a citation points at")
async def get_chunk(
    document_id: DocumentId, chunk_id: ChunkId, principal: DocumentReader, downstream: DownstreamDep, settings: SettingsDep
) -> ChunkOut:
    chunk = await downstream.rag.GetChunk(pb.GetChunkRequest(caller=caller_pb(principal), document_id=document_id,
                                                             chunk_id=chunk_id), timeout=settings.call_timeout_seconds)
    return chunk_out(chunk)


@router.post("/search", response_model=SearchOut, summary="Hybrid search over the documents the caller can read")
async def search(body: SearchIn, principal: DocumentReader, downstream: DownstreamDep, settings: SettingsDep) -> SearchOut:
    if not body.query.strip():
        raise AppError(ErrorCode.VALIDATION_ERROR, "query must not be blank", {"field": "query"})
    request = pb.SearchRequest(caller=caller_pb(principal), query=body.query, top_k=body.top_k, collections=body.collections,
                               document_ids=body.document_ids, dense_only=not body.hybrid)
    if body.score_threshold is not None:
        request.score_threshold = body.score_threshold
    reply = await downstream.rag.Search(request, timeout=settings.call_timeout_seconds)
    return SearchOut(hits=[SearchHitOut(chunk=chunk_out(h.chunk), score=h.score, rank_score=h.rank_score, snippet=h.snippet)
                           for h in reply.hits], searchable_documents=reply.searchable_documents, took_ms=reply.took_ms)
