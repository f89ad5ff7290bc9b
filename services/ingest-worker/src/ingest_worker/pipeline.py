"""One document's ingestion: claim it, parse, chunk, embed in batches, index, finish.

Every step reports to the rag service's registry, which owns the document's status; the point
ids are derived from the document and chunk index, so doing the work twice writes the same
points. Errors that retrying cannot fix (a damaged file, an unsupported format) fail the
document with the reason; transient ones (the rag service briefly away) are retried.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import grpc

from chatbot.rag.v1 import rag_pb2 as pb
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.blobstore import BlobNotFound, BlobStore
from ingest_worker.batching import EncodeBatcher
from ingest_worker.chunking import ChunkingOptions, chunk_document
from ingest_worker.parsing import ParseError, parse
from ingest_worker.settings import IngestSettings

log = logging.getLogger(__name__)
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
             grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


class PermanentFailure(Exception):
    """The document cannot be ingested; the message is the reason shown to its owner."""


class Transient(Exception):
    """Worth another attempt later."""


@dataclass
class Outcome:
    document_id: str
    status: str
    chunks: int = 0
    reason: str = ""
    timings: dict = field(default_factory=dict)


class Pipeline:
    def __init__(self, settings: IngestSettings, rag: rag_pb2_grpc.RagServiceStub, blobs: BlobStore, embedder: EncodeBatcher) -> None:
        self.settings = settings
        self.rag = rag
        self.blobs = blobs
        self.embedder = embedder
        self.chunking = ChunkingOptions(settings.chunk_target_chars, settings.chunk_max_chars, settings.chunk_overlap_chars)

    def _call(self, method, request):
        try:
            return method(request, timeout=self.settings.rag_timeout_seconds)
        except grpc.RpcError as exc:
            if exc.code() in TRANSIENT:
                raise Transient(f"rag service: {exc.code().name}") from None
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise PermanentFailure("the document was deleted") from None
            raise PermanentFailure(f"rag service refused: {exc.details()}") from None

    def run(self, document_id: str, *, final_attempt: bool, redelivered: bool = False) -> Outcome:
        started = time.perf_counter()
        claim = self._call(self.rag.StartProcessing, pb.StartProcessingRequest(
            document_id=document_id, time_limit_seconds=self.settings.task_time_limit_seconds, takeover=redelivered))
        if not claim.proceed:
            log.info("document skipped", extra={"document_id": document_id, "reason": claim.reason})
            return Outcome(document_id, "skipped", reason=claim.reason)
        doc = claim.document
        timings: dict[str, int] = {}
        try:
            try:
                data = self.blobs.get(doc.blob_key)
            except BlobNotFound:
                raise PermanentFailure("the uploaded file is missing from the blob store") from None
            t = time.perf_counter()
            try:
                parsed = parse(data, doc.filename)
            except ParseError as exc:
                raise PermanentFailure(str(exc)) from None
            timings["parse_ms"] = _ms(t)
            t = time.perf_counter()
            chunks = chunk_document(parsed, self.chunking)
            timings["chunk_ms"] = _ms(t)
            title = parsed.title or doc.title
            embed_ms = index_ms = 0
            batch = self.settings.embed_batch_size
            finished = None
            for first in range(0, len(chunks), batch):
                part = chunks[first:first + batch]
                t = time.perf_counter()
                vectors = self.embedder.encode([c.embedding_text(title) for c in part], batch_size=batch)
                embed_ms += _ms(t)
                t = time.perf_counter()
                request = pb.UpsertChunksRequest(
                    document_id=document_id, embedding_model=self.embedder.model_id,
                    chunks=[pb.Chunk(chunk_index=c.index, text=c.text, title=title, section=c.section, page=c.page,
                                     char_start=c.char_start, char_end=c.char_end, dense=v.tolist())
                            for c, v in zip(part, vectors, strict=True)],
                )
                if first + batch >= len(chunks):
                    # The last batch finishes the document in the same call (rag adds its write time).
                    index_ms += _ms(t)
                    timings.update(embed_ms=embed_ms, index_ms=index_ms, total_ms=_ms(started))
                    request.finish.CopyFrom(self._finish_request(document_id, len(chunks), parsed.page_count, title, timings))
                    finished = self._call(self.rag.UpsertChunks, request).document
                else:
                    self._call(self.rag.UpsertChunks, request)
                    index_ms += _ms(t)
            if finished is None:  # nothing to index
                timings.update(embed_ms=embed_ms, index_ms=index_ms, total_ms=_ms(started))
                finished = self._call(self.rag.FinishDocument, self._finish_request(
                    document_id, 0, parsed.page_count, title, timings))
            log.info("document indexed", extra={"document_id": document_id, "chunks": finished.chunk_count, **timings})
            return Outcome(document_id, "indexed", finished.chunk_count, timings=timings)
        except PermanentFailure as exc:
            self.fail(document_id, str(exc), retrying=False, timings=timings, started=started)
            return Outcome(document_id, "failed", reason=str(exc))
        except Transient as exc:
            self.fail(document_id, str(exc), retrying=not final_attempt, timings=timings, started=started)
            if final_attempt:
                return Outcome(document_id, "failed", reason=str(exc))
            raise

    @staticmethod
    def _finish_request(document_id: str, chunks: int, pages: int, title: str, timings: dict) -> pb.FinishDocumentRequest:
        return pb.FinishDocumentRequest(document_id=document_id, success=True, chunk_count=chunks, page_count=pages,
                                        title=title, timings=pb.DocumentTimings(**timings))

    def fail(self, document_id: str, reason: str, *, retrying: bool, timings: dict, started: float | None) -> None:
        """Records a failed attempt: `failed` with the reason, or back to `queued` when it will be retried."""
        if started is not None:
            timings = {**timings, "total_ms": _ms(started)}
        log.warning("document not indexed", extra={"document_id": document_id, "reason": reason, "retrying": retrying})
        try:
            self.rag.FinishDocument(pb.FinishDocumentRequest(
                document_id=document_id, success=False, error=reason, retrying=retrying,
                timings=pb.DocumentTimings(**timings)), timeout=self.settings.rag_timeout_seconds)
        except grpc.RpcError:
            # The registry is unreachable; the reaper will find the document `processing` later.
            log.warning("could not record the failure", extra={"document_id": document_id})


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)
