from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class IngestDocumentTask(_message.Message):
    __slots__ = ("document_id", "request_id")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    request_id: str
    def __init__(self, document_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ObjectCreatedEvent(_message.Message):
    __slots__ = ("key", "size", "etag", "collection", "visibility")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    key: str
    size: int
    etag: str
    collection: str
    visibility: str
    def __init__(self, key: _Optional[str] = ..., size: _Optional[int] = ..., etag: _Optional[str] = ..., collection: _Optional[str] = ..., visibility: _Optional[str] = ...) -> None: ...
