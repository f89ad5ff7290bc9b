"""Retrieval quality on a corpus with known evidence: the real ingestion path (Markdown
parsing, structural chunking, the int8 ONNX embedder) into the real rag service (Qdrant Edge,
hybrid dense + BM25 with RRF), asked 36 questions phrased unlike their evidence.
Reports recall@5 and MRR; recall@5 must be at least 0.8."""

import asyncio
import hashlib
import json
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.embedding import EmbeddingSettings, get_embedder
from chatbot_common.grpc_server import start_grpc
from chatbot_common.ids import new_id
from corpus import DOCUMENTS, QUESTIONS
from ingest_worker.chunking import chunk_document
from ingest_worker.parsing import parse
from rag import server as rag_server
from rag.settings import RagSettings
from sample_docs import make_markdown

pytestmark = pytest.mark.contract
CALLER = common_pb2.Caller(user_id="usr_quality", tenant_id="quality")
RESULTS = Path(__file__).resolve().parents[2] / "var" / "reports" / "retrieval_quality.json"


async def build_index(stub) -> dict[str, str]:
    embedder = get_embedder(EmbeddingSettings())
    ids = {}
    for title, sections in DOCUMENTS.items():
        data = make_markdown(title, sections)
        doc = (await stub.CreateDocuments(pb.CreateDocumentsRequest(documents=[pb.CreateDocumentRequest(
            caller=CALLER, filename=f"{title}.md", sha256=hashlib.sha256(data).hexdigest(), blob_key=new_id("doc"))]),
            timeout=5)).results[0].document
        claims = await stub.StartProcessingMany(pb.StartProcessingManyRequest(document_ids=[doc.id], time_limit_seconds=60,
                                                                               max_attempts=1), timeout=5)
        assert claims.claims[0].proceed
        parsed = parse(data, f"{title}.md")
        chunks = chunk_document(parsed)
        vectors = embedder.encode([c.embedding_text(parsed.title) for c in chunks])
        await stub.UpsertChunks(pb.UpsertChunksRequest(document_id=doc.id, embedding_model=embedder.model_id, chunks=[
            pb.Chunk(chunk_index=c.index, text=c.text, title=parsed.title, section=c.section, dense=v.tolist())
            for c, v in zip(chunks, vectors, strict=True)]), timeout=30)
        await stub.FinishDocument(pb.FinishDocumentRequest(document_id=doc.id, success=True, chunk_count=len(chunks)), timeout=30)
        ids[doc.id] = title
    return ids


async def test_recall_at_5_and_mrr(tmp_path):
    settings = RagSettings(grpc_port=0, var_dir=tmp_path)
    await asyncio.to_thread(rag_server.migrate, settings)
    running = await start_grpc(rag_server.build_service(settings), settings, readiness_interval=0.05)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(600):
                if (await health.Check(health_pb2.HealthCheckRequest(), timeout=2)).status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.05)
            stub = rag_pb2_grpc.RagServiceStub(channel)
            titles = await build_index(stub)
            ranks = []
            misses = []
            for question, title, section in QUESTIONS:
                reply = await stub.Search(pb.SearchRequest(caller=CALLER, query=question, top_k=5), timeout=30)
                found = [(titles[h.chunk.document_id], h.chunk.section.rsplit(" > ", 1)[-1]) for h in reply.hits]
                rank = found.index((title, section)) + 1 if (title, section) in found else None
                ranks.append(rank)
                if rank is None:
                    misses.append({"question": question, "expected": section, "got": [s for _, s in found]})
    finally:
        await running.stop(0)
    recall = sum(1 for r in ranks if r) / len(ranks)
    mrr = sum(1 / r for r in ranks if r) / len(ranks)
    report = {"questions": len(ranks), "recall_at_5": round(recall, 3), "mrr": round(mrr, 3), "misses": misses}
    print(json.dumps(report, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    assert len(QUESTIONS) >= 30
    assert recall >= 0.8, report
