import datetime

from chatbot.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DocumentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_STATUS_UNSPECIFIED: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_QUEUED: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_PROCESSING: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_INDEXED: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_FAILED: _ClassVar[DocumentStatus]
DOCUMENT_STATUS_UNSPECIFIED: DocumentStatus
DOCUMENT_STATUS_QUEUED: DocumentStatus
DOCUMENT_STATUS_PROCESSING: DocumentStatus
DOCUMENT_STATUS_INDEXED: DocumentStatus
DOCUMENT_STATUS_FAILED: DocumentStatus

class DocumentTimings(_message.Message):
    __slots__ = ("parse_ms", "chunk_ms", "embed_ms", "index_ms", "total_ms")
    PARSE_MS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_MS_FIELD_NUMBER: _ClassVar[int]
    EMBED_MS_FIELD_NUMBER: _ClassVar[int]
    INDEX_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    parse_ms: int
    chunk_ms: int
    embed_ms: int
    index_ms: int
    total_ms: int
    def __init__(self, parse_ms: _Optional[int] = ..., chunk_ms: _Optional[int] = ..., embed_ms: _Optional[int] = ..., index_ms: _Optional[int] = ..., total_ms: _Optional[int] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("id", "owner_id", "tenant_id", "visibility", "collection", "filename", "title", "content_type", "size_bytes", "sha256", "blob_key", "status", "error", "chunk_count", "attempts", "timings", "created_at", "started_at", "finished_at", "page_count", "embedding_model")
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    BLOB_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    tenant_id: str
    visibility: str
    collection: str
    filename: str
    title: str
    content_type: str
    size_bytes: int
    sha256: str
    blob_key: str
    status: DocumentStatus
    error: str
    chunk_count: int
    attempts: int
    timings: DocumentTimings
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    page_count: int
    embedding_model: str
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., visibility: _Optional[str] = ..., collection: _Optional[str] = ..., filename: _Optional[str] = ..., title: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., blob_key: _Optional[str] = ..., status: _Optional[_Union[DocumentStatus, str]] = ..., error: _Optional[str] = ..., chunk_count: _Optional[int] = ..., attempts: _Optional[int] = ..., timings: _Optional[_Union[DocumentTimings, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_count: _Optional[int] = ..., embedding_model: _Optional[str] = ...) -> None: ...

class CreateDocumentRequest(_message.Message):
    __slots__ = ("caller", "filename", "title", "content_type", "size_bytes", "sha256", "blob_key", "collection", "visibility")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    BLOB_KEY_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    filename: str
    title: str
    content_type: str
    size_bytes: int
    sha256: str
    blob_key: str
    collection: str
    visibility: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., filename: _Optional[str] = ..., title: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., blob_key: _Optional[str] = ..., collection: _Optional[str] = ..., visibility: _Optional[str] = ...) -> None: ...

class CreateDocumentResponse(_message.Message):
    __slots__ = ("document", "created")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    document: Document
    created: bool
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class CreateDocumentsRequest(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[CreateDocumentRequest]
    def __init__(self, documents: _Optional[_Iterable[_Union[CreateDocumentRequest, _Mapping]]] = ...) -> None: ...

class CreateDocumentsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CreateDocumentResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[CreateDocumentResponse, _Mapping]]] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("caller", "document_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    document_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., document_id: _Optional[str] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("caller", "page", "status", "collection", "visibility", "owned_only", "query")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    OWNED_ONLY_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    page: _common_pb2.PageRequest
    status: DocumentStatus
    collection: str
    visibility: str
    owned_only: bool
    query: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., status: _Optional[_Union[DocumentStatus, str]] = ..., collection: _Optional[str] = ..., visibility: _Optional[str] = ..., owned_only: _Optional[bool] = ..., query: _Optional[str] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents", "page")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    page: _common_pb2.PageInfo
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("caller", "document_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    document_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., document_id: _Optional[str] = ...) -> None: ...

class SetDocumentVisibilityRequest(_message.Message):
    __slots__ = ("caller", "document_id", "visibility", "as_tenant_admin")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    AS_TENANT_ADMIN_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    document_id: str
    visibility: str
    as_tenant_admin: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., document_id: _Optional[str] = ..., visibility: _Optional[str] = ..., as_tenant_admin: _Optional[bool] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("deleted_points", "blob_key")
    DELETED_POINTS_FIELD_NUMBER: _ClassVar[int]
    BLOB_KEY_FIELD_NUMBER: _ClassVar[int]
    deleted_points: int
    blob_key: str
    def __init__(self, deleted_points: _Optional[int] = ..., blob_key: _Optional[str] = ...) -> None: ...

class StartProcessingManyRequest(_message.Message):
    __slots__ = ("document_ids", "time_limit_seconds", "max_attempts", "takeover")
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TAKEOVER_FIELD_NUMBER: _ClassVar[int]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    time_limit_seconds: float
    max_attempts: int
    takeover: bool
    def __init__(self, document_ids: _Optional[_Iterable[str]] = ..., time_limit_seconds: _Optional[float] = ..., max_attempts: _Optional[int] = ..., takeover: _Optional[bool] = ...) -> None: ...

class StartProcessingManyResponse(_message.Message):
    __slots__ = ("claims",)
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    claims: _containers.RepeatedCompositeFieldContainer[Claim]
    def __init__(self, claims: _Optional[_Iterable[_Union[Claim, _Mapping]]] = ...) -> None: ...

class Claim(_message.Message):
    __slots__ = ("document", "proceed", "reason")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    PROCEED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    document: Document
    proceed: bool
    reason: str
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., proceed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class SparseVector(_message.Message):
    __slots__ = ("indices", "values")
    INDICES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    indices: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, indices: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("chunk_id", "document_id", "chunk_index", "text", "title", "section", "page", "char_start", "char_end", "owner_id", "tenant_id", "visibility", "collection", "dense", "sparse")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SECTION_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    document_id: str
    chunk_index: int
    text: str
    title: str
    section: str
    page: int
    char_start: int
    char_end: int
    owner_id: str
    tenant_id: str
    visibility: str
    collection: str
    dense: _containers.RepeatedScalarFieldContainer[float]
    sparse: SparseVector
    def __init__(self, chunk_id: _Optional[str] = ..., document_id: _Optional[str] = ..., chunk_index: _Optional[int] = ..., text: _Optional[str] = ..., title: _Optional[str] = ..., section: _Optional[str] = ..., page: _Optional[int] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ..., owner_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., visibility: _Optional[str] = ..., collection: _Optional[str] = ..., dense: _Optional[_Iterable[float]] = ..., sparse: _Optional[_Union[SparseVector, _Mapping]] = ...) -> None: ...

class UpsertChunksRequest(_message.Message):
    __slots__ = ("document_id", "chunks", "embedding_model", "finish")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    chunks: _containers.RepeatedCompositeFieldContainer[Chunk]
    embedding_model: str
    finish: FinishDocumentRequest
    def __init__(self, document_id: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[Chunk, _Mapping]]] = ..., embedding_model: _Optional[str] = ..., finish: _Optional[_Union[FinishDocumentRequest, _Mapping]] = ...) -> None: ...

class UpsertChunksResponse(_message.Message):
    __slots__ = ("upserted", "document")
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    upserted: int
    document: Document
    def __init__(self, upserted: _Optional[int] = ..., document: _Optional[_Union[Document, _Mapping]] = ...) -> None: ...

class IndexDocumentsRequest(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[UpsertChunksRequest]
    def __init__(self, documents: _Optional[_Iterable[_Union[UpsertChunksRequest, _Mapping]]] = ...) -> None: ...

class IndexDocumentsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IndexedDocument]
    def __init__(self, results: _Optional[_Iterable[_Union[IndexedDocument, _Mapping]]] = ...) -> None: ...

class IndexedDocument(_message.Message):
    __slots__ = ("document_id", "upserted", "document", "error")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    upserted: int
    document: Document
    error: str
    def __init__(self, document_id: _Optional[str] = ..., upserted: _Optional[int] = ..., document: _Optional[_Union[Document, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class FinishDocumentRequest(_message.Message):
    __slots__ = ("document_id", "success", "error", "chunk_count", "page_count", "timings", "title", "retrying")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RETRYING_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    success: bool
    error: str
    chunk_count: int
    page_count: int
    timings: DocumentTimings
    title: str
    retrying: bool
    def __init__(self, document_id: _Optional[str] = ..., success: _Optional[bool] = ..., error: _Optional[str] = ..., chunk_count: _Optional[int] = ..., page_count: _Optional[int] = ..., timings: _Optional[_Union[DocumentTimings, _Mapping]] = ..., title: _Optional[str] = ..., retrying: _Optional[bool] = ...) -> None: ...

class ReapStaleRequest(_message.Message):
    __slots__ = ("time_limit_seconds", "max_attempts")
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    time_limit_seconds: float
    max_attempts: int
    def __init__(self, time_limit_seconds: _Optional[float] = ..., max_attempts: _Optional[int] = ...) -> None: ...

class ReapStaleResponse(_message.Message):
    __slots__ = ("requeue_document_ids", "failed_document_ids")
    REQUEUE_DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FAILED_DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    requeue_document_ids: _containers.RepeatedScalarFieldContainer[str]
    failed_document_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, requeue_document_ids: _Optional[_Iterable[str]] = ..., failed_document_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("caller", "query", "top_k", "score_threshold", "collections", "document_ids", "dense_only")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    DENSE_ONLY_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    query: str
    top_k: int
    score_threshold: float
    collections: _containers.RepeatedScalarFieldContainer[str]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    dense_only: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., query: _Optional[str] = ..., top_k: _Optional[int] = ..., score_threshold: _Optional[float] = ..., collections: _Optional[_Iterable[str]] = ..., document_ids: _Optional[_Iterable[str]] = ..., dense_only: _Optional[bool] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("chunk", "score", "rank_score", "snippet")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_SCORE_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    chunk: Chunk
    score: float
    rank_score: float
    snippet: str
    def __init__(self, chunk: _Optional[_Union[Chunk, _Mapping]] = ..., score: _Optional[float] = ..., rank_score: _Optional[float] = ..., snippet: _Optional[str] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "searchable_documents", "took_ms")
    HITS_FIELD_NUMBER: _ClassVar[int]
    SEARCHABLE_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    TOOK_MS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    searchable_documents: int
    took_ms: int
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., searchable_documents: _Optional[int] = ..., took_ms: _Optional[int] = ...) -> None: ...

class GetChunkRequest(_message.Message):
    __slots__ = ("caller", "document_id", "chunk_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    document_id: str
    chunk_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., document_id: _Optional[str] = ..., chunk_id: _Optional[str] = ...) -> None: ...

class UserDocumentsRequest(_message.Message):
    __slots__ = ("caller",)
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ...) -> None: ...

class UserDocumentsResponse(_message.Message):
    __slots__ = ("documents",)
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ...) -> None: ...

class EraseUserDocumentsResponse(_message.Message):
    __slots__ = ("documents", "points", "blob_keys")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BLOB_KEYS_FIELD_NUMBER: _ClassVar[int]
    documents: int
    points: int
    blob_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, documents: _Optional[int] = ..., points: _Optional[int] = ..., blob_keys: _Optional[_Iterable[str]] = ...) -> None: ...
