"""An upload's life: its bytes stored, its documents registered and enqueued (undone if a step
fails), and a document's file removed with it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot_common.blobstore import BlobStore
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.filetypes import UnsupportedFile, sniff
from chatbot_common.ids import new_id
from gateway import audit
from gateway.grpc_clients import Downstream, caller_of
from gateway.security import Principal
from gateway.uploads.queue import IngestQueue

log = logging.getLogger(__name__)

File = tuple[str, bytes, str]  # display name, bytes, content type


@dataclass(frozen=True)
class Registered:
    document: pb.Document
    created: bool  # False: the same owner uploaded the same bytes before, and this is that document


def display_name(filename: str | None) -> str:
    """The client's filename for display only: last path component, no control characters.
    It is never used to build a path."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".") or "upload"
    return name[:255]


def title_of(name: str) -> str:
    """A document's title until its parser finds a better one. Always sent: the registry's
    fallback (the filename) is for callers that have none."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[_-]+", " ", stem).strip() or name


def content_type_of(name: str, data: bytes) -> str:
    """What the bytes are (by their content, not the name alone); refused when empty or of a kind not ingested."""
    if not data:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"{name} is empty", {"file": name})
    try:
        return sniff(data, name).content_type
    except UnsupportedFile as exc:
        raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"{name}: {exc}", {"file": name}) from None


class Uploads:
    def __init__(self, downstream: Downstream, blobs: BlobStore, queue: IngestQueue, sessions: async_sessionmaker,
                 call_timeout: float) -> None:
        self.downstream, self.blobs, self.queue, self.sessions = downstream, blobs, queue, sessions
        self.call_timeout = call_timeout

    async def register(self, caller: common_pb2.Caller, files: list[File], *, collection: str, visibility: str) -> list[Registered]:
        """Stores the bytes of each file and registers the documents in one call, not yet
        enqueued. A duplicate (same owner, same sha256) is the existing document and keeps no
        second blob. All or none are registered."""
        keys = [new_id("doc") for _ in files]

        def delete(which: list[str]) -> None:
            for key in which:
                self.blobs.delete(key)

        def put_all() -> None:
            try:
                for key, (_, data, _) in zip(keys, files, strict=True):
                    self.blobs.put(key, data)
            except OSError:
                log.exception("blob store write failed")
                try:
                    delete(keys)  # no blob without a record, not even part of an upload
                except OSError:
                    log.warning("could not remove the partial upload's blobs")
                raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the file store cannot take the upload now; try again") from None

        await asyncio.to_thread(put_all)
        try:
            reply = await self.downstream.rag.CreateDocuments(pb.CreateDocumentsRequest(documents=[pb.CreateDocumentRequest(
                caller=caller, filename=name, title=title_of(name), content_type=content_type, size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(), blob_key=key, collection=collection, visibility=visibility,
            ) for key, (name, data, content_type) in zip(keys, files, strict=True)]), timeout=self.call_timeout)
        except AppError:
            await asyncio.to_thread(delete, keys)
            raise
        await asyncio.to_thread(delete, [key for key, result in zip(keys, reply.results, strict=True) if not result.created])
        return [Registered(result.document, result.created) for result in reply.results]

    async def enqueue(self, caller: common_pb2.Caller, registered: list[Registered], request_id: str) -> None:
        """Enqueues the newly registered documents (one upload's travel together); if the queue
        is down, takes them back (no record without a task, no blob without a record: a new
        document's blob key is its id)."""
        document_ids = [r.document.id for r in registered if r.created]
        if not document_ids:
            return
        try:
            await self.queue.enqueue(document_ids, request_id)
        except Exception:
            log.exception("enqueue failed", extra={"documents": document_ids})
            for document_id in document_ids:
                try:
                    await self.downstream.rag.DeleteDocument(pb.DeleteDocumentRequest(caller=caller, document_id=document_id),
                                                             timeout=self.call_timeout)
                except AppError:
                    log.warning("could not remove the unqueued document", extra={"document_id": document_id})
                await asyncio.to_thread(self.blobs.delete, document_id)
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the ingestion queue is unavailable; try again") from None

    async def upload(self, principal: Principal, files: list[File], *, collection: str, visibility: str,
                     request: audit.Origin, request_id: str) -> list[Registered]:
        """Files checked by the caller (`content_type_of`), stored, registered, enqueued and audited."""
        caller = caller_of(principal)
        registered = await self.register(caller, files, collection=collection, visibility=visibility)
        await self.enqueue(caller, registered, request_id)
        # One entry per document, so that each is found by its id; written together.
        await audit.write_all(self.sessions, [audit.by(
            principal, "document.upload", request, target_type="document", target_id=r.document.id,
            details={"duplicate": not r.created, "visibility": visibility, "collection": collection, "files_in_upload": len(registered)},
        ) for r in registered])
        return registered

    async def delete(self, principal: Principal, document_id: str, request: audit.Origin) -> None:
        """The document's record and vectors (the rag service's), then its file; a refusal for
        someone else's document (or a probed id) is audited."""
        try:
            reply = await self.downstream.rag.DeleteDocument(
                pb.DeleteDocumentRequest(caller=caller_of(principal), document_id=document_id), timeout=self.call_timeout)
        except AppError as refused:
            if refused.code in (ErrorCode.PERMISSION_DENIED, ErrorCode.NOT_FOUND):
                await audit.write(self.sessions, audit.by(principal, "document.delete", request, outcome="failure",
                                                          target_type="document", target_id=document_id,
                                                          details={"reason": refused.code.value}))
            raise
        if reply.blob_key:
            await asyncio.to_thread(self.blobs.delete, reply.blob_key)
        await audit.write(self.sessions, audit.by(principal, "document.delete", request, target_type="document",
                                                  target_id=document_id))
