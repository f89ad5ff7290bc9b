"""The knowledge base in one process, for measuring retrieval: the rag service composed as
`rag.server.build_service` composes it and served over gRPC on loopback, the ingest worker's own
`Pipeline` (parse, chunk, embed with the configured model, IndexDocuments/UpsertChunks) feeding
it, and the service's `Search` asked directly, so each retrieval mode (hybrid, dense, sparse) can
be measured; the gRPC API itself offers hybrid and dense. Used by bench/retrieval.py and by the
retrieval-quality test."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from evaluation import SETS

CONTENT_TYPES = {".txt": "text/plain", ".pdf": "application/pdf", ".html": "text/html",
                 ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


@dataclass
class Ingested:
    reader: object  # rag.registry.Reader: the set's own user
    chunks: int
    seconds: float


class KnowledgeBase:
    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir

    async def __aenter__(self) -> KnowledgeBase:
        from chatbot.rag.v1 import rag_pb2_grpc
        from chatbot_common import db
        from chatbot_common.blobstore import open_blob_store
        from chatbot_common.embedding import embedding_runners
        from chatbot_common.grpc_client import open_sync_channel
        from chatbot_common.grpc_server import GrpcService, start_grpc
        from ingest_worker.batching import EncodeBatcher
        from ingest_worker.pipeline import Pipeline
        from ingest_worker.settings import IngestSettings
        from rag import server as rag_server
        from rag.documents import Documents
        from rag.indexing import Indexer
        from rag.registry import Registry
        from rag.resources import Resources
        from rag.retrieval import Search
        from rag.servicer import RagServicer
        from rag.settings import RagSettings

        self.settings = RagSettings(grpc_port=0, var_dir=self.var_dir)
        await asyncio.to_thread(rag_server.migrate, self.settings)
        self._engine = db.create_engine(self.settings.database_url, pool_size=self.settings.database_pool_size)
        self._resources = Resources(self.settings)
        registry = Registry(db.session_factory(self._engine))
        self.search = Search(registry, self._resources, self.settings)
        servicer = RagServicer(Documents(registry, self._resources), Indexer(registry, self._resources), self.search)
        service = GrpcService(full_names=[rag_server.SERVICE_NAME],
                              register=lambda s: rag_pb2_grpc.add_RagServiceServicer_to_server(servicer, s),
                              readiness=self._resources.loaded, on_shutdown=[self._resources.close, self._engine.dispose])
        self._running = await start_grpc(service, self.settings, readiness_interval=0.05)
        ingest = IngestSettings(var_dir=self.var_dir, rag_target=f"127.0.0.1:{self._running.port}")
        self._blobs = open_blob_store(ingest.blob_store_path())
        encoder = EncodeBatcher(embedding_runners(ingest.embed_runners, ingest.embedding), batch_size=ingest.embed_runner_batch_size)
        self._channel = open_sync_channel(ingest.rag_target)
        self._stub = rag_pb2_grpc.RagServiceStub(self._channel)
        self._pipeline = Pipeline(ingest, self._stub, self._blobs, encoder)
        await self._resources.retriever()  # the model and the store, loaded
        return self

    async def __aexit__(self, *exc) -> None:
        self._channel.close()
        await self._running.stop(0)

    async def ingest(self, name: str) -> Ingested:
        """The set's corpus, registered as its own user's documents and ingested by the worker's pipeline."""
        from chatbot.common.v1 import common_pb2
        from chatbot.rag.v1 import rag_pb2 as pb
        from chatbot_common.ids import new_id
        from rag.registry import Reader

        caller = common_pb2.Caller(user_id=f"usr_quality_{name}", tenant_id=f"quality_{name}")
        files = SETS[name][1]
        requests = [pb.CreateDocumentRequest(caller=caller, filename=path.name, title=path.stem,
                                             content_type=CONTENT_TYPES[path.suffix], size_bytes=path.stat().st_size,
                                             sha256=hashlib.sha256(path.read_bytes()).hexdigest(), blob_key=new_id("doc"))
                    for path in files]
        created = await asyncio.to_thread(self._stub.CreateDocuments, pb.CreateDocumentsRequest(documents=requests), timeout=30)
        ids = []
        for path, result in zip(files, created.results, strict=True):
            self._blobs.put(result.document.blob_key, path.read_bytes())
            ids.append(result.document.id)
        started = time.perf_counter()
        outcomes = await asyncio.to_thread(self._pipeline.run_many, ids, final_attempt=True)
        failed = [o for o in outcomes if o.status != "indexed"]
        if failed:
            raise RuntimeError(f"{name}: not indexed: {failed}")
        return Ingested(Reader(caller.user_id, caller.tenant_id), sum(o.chunks for o in outcomes), time.perf_counter() - started)

    async def ask(self, reader, question: str, mode: str, *, top_k: int = 5, threshold: float | None = None):
        """The passages the rag service returns, best first."""
        from rag.retrieval import Question

        found = await self.search.search(reader, Question(question, top_k=top_k, mode=mode, threshold=threshold))
        return found.passages, found.took_ms
