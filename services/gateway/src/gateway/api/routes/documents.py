"""The knowledge base over REST: uploads (202, ingested by the worker; `gateway.uploads`), the
document list, status, sharing (`gateway.document_sharing`), deletion, cited passages and search.
Access rules are the rag service's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile, status

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import id_pattern
from gateway import document_sharing
from gateway.api.deps import (
    DocumentReader, DocumentSharer, DocumentWriter, DownstreamDep, SessionsDep, SettingsDep, UploadsDep, caller_pb,
)
from gateway.api.schemas.common import pagination
from gateway.api.schemas.documents import (
    ChunkOut, DocumentList, DocumentOut, DocumentPatch, SearchIn, SearchOut, Status, UploadOut, Visibility, chunk_out, document_out,
    is_collection_name, search_out, status_value, uploaded_out,
)
from gateway.identity import roles
from gateway.uploads.files import content_type_of, display_name

router = APIRouter(tags=["documents"])

DocumentId = Annotated[str, Path(pattern=id_pattern("doc"), description="doc_ followed by 32 hex digits")]
ChunkId = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description="a chunk's UUID")]


async def _read_limited(upload: UploadFile, limit: int, name: str) -> bytes:
    if upload.size is not None and upload.size > limit:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"{name} is over the {limit}-byte limit", {"file": name, "limit": limit})
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"{name} is over the {limit}-byte limit", {"file": name, "limit": limit})
    return data


@router.post("/documents", status_code=status.HTTP_202_ACCEPTED, response_model=UploadOut,
             summary="Upload documents; they are ingested in the background")
async def upload_documents(
    request: Request,
    principal: DocumentWriter,
    settings: SettingsDep,
    uploads: UploadsDep,
    files: Annotated[list[UploadFile], File(description="one or more files: PDF, DOCX, HTML, Markdown, text")],
    collection: Annotated[str, Form(max_length=100)] = "default",
    visibility: Annotated[Visibility, Form()] = "private",
) -> UploadOut:
    if not files:
        raise AppError(ErrorCode.VALIDATION_ERROR, "no file in the request", {"field": "files"})
    if len(files) > settings.max_upload_files:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"at most {settings.max_upload_files} files per request", {"field": "files"})
    if not is_collection_name(collection):
        raise AppError(ErrorCode.VALIDATION_ERROR, "collection: 1-100 letters, digits, '.', '_' or '-'", {"field": "collection"})
    if visibility == "tenant" and not principal.can(roles.DOCUMENTS_SHARE):
        raise AppError(ErrorCode.PERMISSION_DENIED, "sharing with the tenant needs the 'documents:share' permission",
                       {"permission": roles.DOCUMENTS_SHARE})
    # Every file is checked before any is stored: a bad file rejects the request, nothing half-done.
    checked: list[tuple[str, bytes, str]] = []
    for upload in files:
        name = display_name(upload.filename)
        data = await _read_limited(upload, settings.max_upload_bytes, name)
        checked.append((name, data, content_type_of(name, data)))
    registered = await uploads.upload(principal, checked, collection=collection, visibility=visibility, request=request,
                                      request_id=request.state.request_id)
    return UploadOut(documents=[uploaded_out(r.document, r.created) for r in registered])


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
        caller=caller_pb(principal), page=common_pb2.PageRequest(limit=limit, offset=offset), status=status_value(status_),
        collection=collection or "", visibility=visibility or "", owned_only=owned, query=q or "",
    ), timeout=settings.call_timeout_seconds)
    return DocumentList(documents=[document_out(d, principal.user_id) for d in reply.documents], pagination=pagination(reply.page))


@router.get("/documents/{document_id}", response_model=DocumentOut, summary="A document's status, error, counts and timings")
async def get_document(document_id: DocumentId, principal: DocumentReader, downstream: DownstreamDep, settings: SettingsDep) -> DocumentOut:
    doc = await downstream.rag.GetDocument(pb.GetDocumentRequest(caller=caller_pb(principal), document_id=document_id),
                                           timeout=settings.call_timeout_seconds)
    return document_out(doc, principal.user_id)


@router.patch("/documents/{document_id}", response_model=DocumentOut,
               summary="Share a document with the tenant, or take it back (the owner, or a tenant admin)",
               description="Searches and grounded answers follow the change as soon as this returns. Audited as `document.share`.")
async def patch_document(request: Request, document_id: DocumentId, body: DocumentPatch, principal: DocumentSharer,
                         downstream: DownstreamDep, sessions: SessionsDep, settings: SettingsDep) -> DocumentOut:
    doc = await document_sharing.set_shared(downstream, sessions, principal, document_id, body.shared, request=request,
                                            timeout=settings.call_timeout_seconds)
    return document_out(doc, principal.user_id)


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a document: its file, its record and every vector")
async def delete_document(request: Request, document_id: DocumentId, principal: DocumentWriter, uploads: UploadsDep) -> Response:
    await uploads.delete(principal, document_id, request)
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
    # Also the rag service's own rule (it has other callers); checked here too so that the HTTP
    # caller hears it in this API's words.
    if not body.query.strip():
        raise AppError(ErrorCode.VALIDATION_ERROR, "query must not be blank", {"field": "query"})
    request = pb.SearchRequest(caller=caller_pb(principal), query=body.query, top_k=body.top_k, collections=body.collections,
                               document_ids=body.document_ids, dense_only=not body.hybrid)
    if body.score_threshold is not None:
        request.score_threshold = body.score_threshold
    return search_out(await downstream.rag.Search(request, timeout=settings.call_timeout_seconds))
