"""The knowledge base over REST: documents, their passages, search and uploads, and the
converters from the rag service's messages (the only place a document status gets its name)."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from chatbot.rag.v1 import rag_pb2 as pb
from chatbot_common.ids import id_pattern
from chatbot_common.timeutil import iso
from gateway.api.schemas.common import Pagination

Status = Literal["queued", "processing", "indexed", "failed"]
Visibility = Literal["private", "tenant"]
# The one check of a collection name's shape: the rag service trusts it (rag.proto, CreateDocumentRequest).
Collection = Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9._-]*$")]
_NAMED_COLLECTION = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
STATUS_NAMES: dict[int, Status] = {
    pb.DOCUMENT_STATUS_QUEUED: "queued", pb.DOCUMENT_STATUS_PROCESSING: "processing",
    pb.DOCUMENT_STATUS_INDEXED: "indexed", pb.DOCUMENT_STATUS_FAILED: "failed",
}
_STATUS_VALUES = {name: value for value, name in STATUS_NAMES.items()}


def is_collection_name(value: str) -> bool:
    """An upload names its collection: unlike a filter, it cannot be empty."""
    return _NAMED_COLLECTION.fullmatch(value) is not None


def status_value(name: Status | None) -> int:
    return _STATUS_VALUES.get(name or "", pb.DOCUMENT_STATUS_UNSPECIFIED)


def status_name(value: int) -> Status:
    return STATUS_NAMES.get(value, "queued")


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


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shared: StrictBool = Field(description="true: everyone in the tenant reads it (and finds it in search); false: the owner alone")


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


# The query's length and the filters' shapes are checked here only: the rag service trusts them
# (rag.proto, SearchRequest).
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
        collection=d.collection, visibility=d.visibility, status=status_name(d.status), error=d.error or None,
        chunk_count=d.chunk_count, page_count=d.page_count, attempts=d.attempts, owned=d.owner_id == user_id,
        timings=Timings(parse_ms=t.parse_ms, chunk_ms=t.chunk_ms, embed_ms=t.embed_ms, index_ms=t.index_ms, total_ms=t.total_ms),
        created_at=_ts(d.created_at) or "", started_at=_ts(d.started_at), finished_at=_ts(d.finished_at),
    )


def uploaded_out(document: pb.Document, created: bool) -> UploadedDocument:
    # A new document is queued whatever the registry's reply said; a duplicate shows where its first copy is.
    return UploadedDocument(id=document.id, filename=document.filename, status="queued" if created else status_name(document.status),
                            duplicate=not created)


def chunk_out(c: pb.Chunk) -> ChunkOut:
    return ChunkOut(chunk_id=c.chunk_id, document_id=c.document_id, chunk_index=c.chunk_index, text=c.text, title=c.title,
                    section=c.section, page=c.page or None, char_start=c.char_start, char_end=c.char_end)


def search_out(reply: pb.SearchResponse) -> SearchOut:
    return SearchOut(hits=[SearchHitOut(chunk=chunk_out(h.chunk), score=h.score, rank_score=h.rank_score, snippet=h.snippet)
                           for h in reply.hits], searchable_documents=reply.searchable_documents, took_ms=reply.took_ms)
