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
from ingest_worker.chunking import ChunkingOptions, chunk_document, match_units
from ingest_worker.parsing import ParseError, parse
from ingest_worker.settings import IngestSettings

log = logging.getLogger(__name__)
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
             grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


# Parsed and chunked once at start (`Pipeline.warm_up`).
_WARM_UP_DOCUMENTS = (
    ("warm-up.md", b"# Warm-up\n\n## Before the first task\n\nA paragraph, *emphasised*, with `code`.\n\n"
                   b"- an item\n- another item\n\n| name | value |\n|---|---|\n| first | 1 |\n"),
    ("warm-up.txt", b"Warm-up\n\nBefore the first task\n\nA paragraph of plain text. Another sentence follows it.\n"),
)


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


@dataclass
class _Prepared:
    """A claimed document, parsed and chunked, waiting to be embedded."""
    document_id: str
    chunks: list  # chunking.MatchUnit: the points, each returning its passage
    title: str
    page_count: int
    started: float
    timings: dict


class Pipeline:
    def __init__(self, settings: IngestSettings, rag: rag_pb2_grpc.RagServiceStub, blobs: BlobStore, embedder: EncodeBatcher) -> None:
        self.settings = settings
        self.rag = rag
        self.blobs = blobs
        self.embedder = embedder
        self.chunking = ChunkingOptions(settings.chunk_target_chars, settings.chunk_max_chars, settings.chunk_overlap_chars,
                                        settings.chunk_match_chars)

    def warm_up(self) -> None:
        """At start, what the first task would otherwise pay for: a text and a Markdown document
        parsed and chunked, so that what parsing and chunking load or build on first use (codecs,
        compiled patterns, caches) is there before it. markdown-it itself (~0.15 s to import) is
        imported with the parser module. The model sessions need nothing: a session's first run
        measured no slower than its next."""
        for name, data in _WARM_UP_DOCUMENTS:
            match_units(chunk_document(parse(data, name), self.chunking))

    def _call(self, method, request):
        try:
            return method(request, timeout=self.settings.rag_timeout_seconds)
        except grpc.RpcError as exc:
            if exc.code() in TRANSIENT:
                raise Transient(f"rag service: {exc.code().name}") from None
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise PermanentFailure("the document was deleted") from None
            raise PermanentFailure(f"rag service refused: {exc.details()}") from None

    def run_many(self, document_ids: list[str], *, final_attempt: bool, redelivered: bool = False,
                 outcomes: dict[str, Outcome] | None = None) -> list[Outcome]:
        """Ingests several documents: one claim for all; small ones embedded and indexed together
        (one encode, one index call and one registry transaction per group), a large one in its
        own batches. Each document ends on its own: one that fails does not hold back the rest.
        `outcomes` fills in as documents end (the caller reads it after a time limit)."""
        started = time.perf_counter()
        outcomes = {} if outcomes is None else outcomes
        claims = self._call(self.rag.StartProcessingMany, pb.StartProcessingManyRequest(
            document_ids=document_ids, time_limit_seconds=self.settings.task_time_limit_seconds,
            max_attempts=self.settings.max_attempts, takeover=redelivered)).claims
        claimed = []
        for claim in claims:
            if claim.proceed:
                claimed.append(claim.document)
            else:
                log.info("document skipped", extra={"document_id": claim.document.id, "reason": claim.reason})
                outcomes[claim.document.id] = Outcome(claim.document.id, "skipped", reason=claim.reason)
        group: list[_Prepared] = []
        try:
            for doc in claimed:
                try:
                    prepared = self._prepare(doc, started)
                except PermanentFailure as exc:
                    outcomes[doc.id] = self._failed(doc.id, str(exc), {}, started)
                    continue
                if len(prepared.chunks) > self.settings.embed_batch_size:
                    self._index_alone(prepared, outcomes)
                    continue
                group.append(prepared)
                if sum(len(p.chunks) for p in group) >= self.settings.embed_batch_size:
                    self._index_together(group, outcomes)
                    group = []
            if group:
                self._index_together(group, outcomes)
        except Transient as exc:
            # Everything claimed and not yet ended goes back to the queue (or fails, last time).
            for doc in claimed:
                if doc.id not in outcomes:
                    self.fail(doc.id, str(exc), retrying=not final_attempt, timings={}, started=started)
                    if final_attempt:
                        outcomes[doc.id] = Outcome(doc.id, "failed", reason=str(exc))
            if not final_attempt:
                raise
        return [outcomes[document_id] for document_id in document_ids]

    def _prepare(self, doc: pb.Document, started: float) -> _Prepared:
        try:
            data = self.blobs.get(doc.blob_key)
        except BlobNotFound:
            raise PermanentFailure("the uploaded file is missing from the blob store") from None
        t = time.perf_counter()
        try:
            parsed = parse(data, doc.filename)
        except ParseError as exc:
            raise PermanentFailure(str(exc)) from None
        parse_ms = _ms(t)
        t = time.perf_counter()
        chunks = match_units(chunk_document(parsed, self.chunking))
        return _Prepared(doc.id, chunks, parsed.title or doc.title, parsed.page_count, started,
                         {"parse_ms": parse_ms, "chunk_ms": _ms(t)})

    def _chunks_pb(self, prepared: _Prepared, chunks: list, vectors) -> list[pb.Chunk]:
        # Each point: the passage (returned, cited, keyword-indexed by the rag service) with the
        # vector of the piece it is matched on.
        return [pb.Chunk(chunk_index=u.index, text=u.chunk.text, title=prepared.title, section=u.chunk.section,
                         page=u.chunk.page, char_start=u.chunk.char_start, char_end=u.chunk.char_end, dense=v.tolist())
                for u, v in zip(chunks, vectors, strict=True)]

    def _index_together(self, group: list[_Prepared], outcomes: dict[str, Outcome]) -> None:
        """Small documents: one encode of all their chunks, one IndexDocuments call. Time spent
        on the group is shared among its documents by their chunk counts."""
        t = time.perf_counter()
        vectors = self.embedder.encode([c.embedding_text(p.title) for p in group for c in p.chunks])
        embed_ms = _ms(t)
        t = time.perf_counter()
        chunks, first = [], 0
        for p in group:
            chunks.append(self._chunks_pb(p, p.chunks, vectors[first:first + len(p.chunks)]))
            first += len(p.chunks)
        build_ms = _ms(t)
        total_chunks = max(1, sum(len(p.chunks) for p in group))
        items = []
        for p, part in zip(group, chunks, strict=True):
            share = len(p.chunks) / total_chunks
            # The rag service adds its write time to index_ms and total_ms.
            p.timings.update(embed_ms=round(embed_ms * share), index_ms=round(build_ms * share), total_ms=_ms(p.started))
            items.append(pb.UpsertChunksRequest(
                document_id=p.document_id, embedding_model=self.embedder.model_id, chunks=part,
                finish=self._finish_request(p.document_id, len(p.chunks), p.page_count, p.title, p.timings)))
        try:
            results = self._call(self.rag.IndexDocuments, pb.IndexDocumentsRequest(documents=items)).results
        except PermanentFailure as exc:
            for p in group:
                outcomes[p.document_id] = self._failed(p.document_id, str(exc), p.timings, p.started)
            return
        for p, result in zip(group, results, strict=True):
            if result.error:
                log.info("document not indexed", extra={"document_id": p.document_id, "reason": result.error})
                outcomes[p.document_id] = Outcome(p.document_id, "skipped", reason=result.error)
                continue
            log.info("document indexed", extra={"document_id": p.document_id, "chunks": result.document.chunk_count, **p.timings})
            outcomes[p.document_id] = Outcome(p.document_id, "indexed", result.document.chunk_count, timings=p.timings)

    def _index_alone(self, p: _Prepared, outcomes: dict[str, Outcome]) -> None:
        """A large document: embedded and indexed batch by batch; the last batch finishes it."""
        timings, embed_ms, index_ms = p.timings, 0, 0
        batch = self.settings.embed_batch_size
        try:
            for first in range(0, len(p.chunks), batch):
                part = p.chunks[first:first + batch]
                t = time.perf_counter()
                vectors = self.embedder.encode([c.embedding_text(p.title) for c in part], batch_size=batch)
                embed_ms += _ms(t)
                t = time.perf_counter()
                request = pb.UpsertChunksRequest(document_id=p.document_id, embedding_model=self.embedder.model_id,
                                                 chunks=self._chunks_pb(p, part, vectors))
                if first + batch >= len(p.chunks):
                    # The last batch finishes the document in the same call (rag adds its write time).
                    index_ms += _ms(t)
                    timings.update(embed_ms=embed_ms, index_ms=index_ms, total_ms=_ms(p.started))
                    request.finish.CopyFrom(self._finish_request(p.document_id, len(p.chunks), p.page_count, p.title, timings))
                    finished = self._call(self.rag.UpsertChunks, request).document
                else:
                    self._call(self.rag.UpsertChunks, request)
                    index_ms += _ms(t)
        except PermanentFailure as exc:
            outcomes[p.document_id] = self._failed(p.document_id, str(exc), timings, p.started)
            return
        log.info("document indexed", extra={"document_id": p.document_id, "chunks": finished.chunk_count, **timings})
        outcomes[p.document_id] = Outcome(p.document_id, "indexed", finished.chunk_count, timings=timings)

    def _failed(self, document_id: str, reason: str, timings: dict, started: float) -> Outcome:
        self.fail(document_id, reason, retrying=False, timings=timings, started=started)
        return Outcome(document_id, "failed", reason=reason)

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
