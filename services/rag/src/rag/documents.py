"""Documents as their users see them: registering an upload, reading, listing, sharing, deleting,
and a user's export and erasure. The registry keeps the records; this module keeps each record and
its vectors together (a delete removes both, in the order `indexing.py` relies on; a change of
visibility reaches every point before the call returns, see `settle_visibility`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import is_valid_id
from chatbot_common.paging import Page
from rag.models import Document
from rag.registry import ListFilter, Reader, Registry, check_call_size, valid_document_id

if TYPE_CHECKING:
    from rag.resources import Resources
    from rag.store import VectorStore

log = logging.getLogger(__name__)
VISIBILITIES = ("private", "tenant")


@dataclass(slots=True)
class NewDocument:
    """An uploaded file to record. Display fields arrive within the registry's column sizes
    (the gateway's upload rules guarantee it); `visibility` is an access rule and checked here."""

    owner: Reader
    filename: str
    title: str
    content_type: str
    size_bytes: int
    sha256: str
    blob_key: str  # a new document's id, when it is shaped like one
    collection: str = ""
    visibility: str = ""


@dataclass(slots=True)
class Erased:
    documents: int
    points: int
    blob_keys: list[str]


# Rounds of settling before giving up: more only if the visibility keeps being toggled meanwhile.
_SETTLE_ROUNDS = 10


async def settle_visibility(registry: Registry, store: VectorStore, document_id: str, visibility: str) -> None:
    """Makes the document's points carry the registry's visibility. Points are written with the
    record's visibility as it was read (a share may land during indexing, two shares may cross),
    so whoever writes points or their visibility looks at the record again afterwards and writes
    again if it changed: the last writer always sees the last change, and the points end equal
    to the record."""
    for _ in range(_SETTLE_ROUNDS):
        await store.set_visibility(document_id, visibility)
        current = await registry.visibility_of(document_id)
        if current is None or current == visibility:
            return
        visibility = current
    log.warning("document visibility still changing; left to its last writer", extra={"document_id": document_id})


def new_record(new: NewDocument) -> Document:
    visibility = new.visibility or "private"
    if visibility not in VISIBILITIES:
        raise AppError(ErrorCode.VALIDATION_ERROR, "visibility must be private or tenant", {"field": "visibility"})
    if len(new.sha256) != 64 or not new.blob_key:
        raise AppError(ErrorCode.VALIDATION_ERROR, "sha256 and blob_key are required")
    return Document(
        id=new.blob_key if is_valid_id(new.blob_key, "doc") else "",
        owner_id=new.owner.user_id, tenant_id=new.owner.tenant_id, visibility=visibility,
        collection=new.collection or "default", filename=new.filename, title=new.title or new.filename,
        content_type=new.content_type, size_bytes=new.size_bytes, sha256=new.sha256, blob_key=new.blob_key,
    )


class Documents:
    def __init__(self, registry: Registry, resources: Resources) -> None:
        self._registry = registry
        self._resources = resources

    async def register(self, new: list[NewDocument]) -> list[tuple[Document, bool]]:
        """All or none recorded; True for each new one (False: the owner had this content already)."""
        check_call_size(len(new), "documents")
        return await self._registry.create_many([new_record(item) for item in new])

    async def get(self, reader: Reader, document_id: str) -> Document:
        doc = await self._registry.get_readable(valid_document_id(document_id), reader)
        if doc is None:
            raise AppError(ErrorCode.NOT_FOUND, "document not found")
        return doc

    async def list(self, reader: Reader, flt: ListFilter, page: Page) -> tuple[list[Document], int]:
        return await self._registry.list(reader, flt, page)

    async def set_visibility(self, reader: Reader, document_id: str, visibility: str, *, tenant_admin: bool) -> Document:
        """Shares the document with its tenant (`tenant`) or takes it back (`private`): the record
        and every point's access field; success only once the points agree. The record is the
        authority: search drops hits of documents the registry no longer lets the caller read, so
        taking a document back holds even when writing its points fails or is cut off (the
        caller sees the error and may repeat the call, which writes the points again)."""
        if visibility not in VISIBILITIES:
            raise AppError(ErrorCode.VALIDATION_ERROR, "visibility must be private or tenant", {"field": "visibility"})
        doc = await self._registry.set_visibility(valid_document_id(document_id), reader, visibility, tenant_admin=tenant_admin)
        await settle_visibility(self._registry, await self._resources.store(), doc.id, visibility)
        log.info("document visibility changed", extra={"document_id": doc.id, "visibility": visibility})
        return doc

    async def delete(self, reader: Reader, document_id: str) -> tuple[int, str]:
        """Only the owner deletes. Returns the points removed and the blob key, which the caller
        removes once the record and the vectors are gone."""
        document_id = valid_document_id(document_id)
        doc = await self._registry.mark_deleting(document_id, reader.user_id)
        if doc is None:
            if await self._registry.get_readable(document_id, reader) is not None:
                raise AppError(ErrorCode.PERMISSION_DENIED, "only the owner may delete a document")
            raise AppError(ErrorCode.NOT_FOUND, "document not found")
        store = await self._resources.store()
        deleted = await store.delete_document(document_id)
        await self._registry.remove(document_id)
        log.info("document deleted", extra={"document_id": document_id, "points": deleted})
        return deleted, doc.blob_key

    async def owned(self, owner: Reader) -> list[Document]:
        return await self._registry.owned_by(owner.user_id)

    async def erase(self, owner: Reader) -> Erased:
        """Everything the user owns: records and vectors, and the cached query embeddings (keyed
        by query text, which may be personal). Blob keys are returned for the caller to remove."""
        docs = await self._registry.tombstone_owned(owner.user_id)
        store = await self._resources.store()
        points = 0
        for doc in docs:
            points += await store.delete_document(doc.id)
            await self._registry.remove(doc.id)
        cleared = (await self._resources.retriever()).forget_queries()
        log.info("user documents erased", extra={"documents": len(docs), "points": points, "cached_queries": cleared})
        return Erased(len(docs), points, [d.blob_key for d in docs if d.blob_key])
