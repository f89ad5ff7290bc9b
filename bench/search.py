"""Search latency in embedded mode (Qdrant Edge in the rag service), query embedding included,
at 10k and 100k chunks, with an access filter, over gRPC to the real rag process.

Corpus: 2,000 passages built from a vocabulary are embedded with the service's own model
(ONNX int8); 100,000 chunks are made from pairs of them (text joined, vectors averaged and
normalised), spread over 100 documents of 20 owners in 4 tenants, a third shared with the
tenant. Each measured query is a distinct question (no query-cache hits) asked by one user who
may read about 15% of the chunks. Dense-only and hybrid (dense + BM25, RRF) are measured.

    python bench/search.py [--sizes 10000,100000] [--queries 200]
Writes bench/results/search.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from fleet import free_port  # noqa: E402

from chatbot.common.v1 import common_pb2  # noqa: E402
from chatbot.rag.v1 import rag_pb2 as pb  # noqa: E402
from chatbot.rag.v1 import rag_pb2_grpc  # noqa: E402
from chatbot_common.embedding import EmbeddingSettings, get_embedder  # noqa: E402
from chatbot_common.ids import new_id  # noqa: E402

SUBJECTS = ("invoice", "contract", "laptop", "badge", "refund", "release", "incident", "budget", "mentor", "vendor",
            "parking", "hotel", "flight", "password", "backup", "payroll", "audit", "license", "server", "printer")
VERBS = ("must be approved by", "is reviewed by", "is renewed by", "is reported to", "is archived by", "is paid by",
         "is configured by", "is escalated to", "is assigned to", "is checked by")
OWNERS = ("the finance team", "the security office", "a team lead", "the procurement desk", "HR", "the on-call engineer",
          "facilities", "legal", "the controller", "the IT service desk")
WHEN = ("within five days", "every quarter", "before renewal", "at the end of the month", "within one hour",
        "each Monday", "after the audit", "twice a year", "before shipping", "on request")


def passage(rng: random.Random) -> str:
    sentences = [f"The {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OWNERS)} {rng.choice(WHEN)}."
                 for _ in range(rng.randint(5, 9))]
    return f"Rule {rng.randint(100, 999)}: " + " ".join(sentences)


def question(rng: random.Random, i: int) -> str:
    return f"Who handles the {rng.choice(SUBJECTS)} {rng.choice(WHEN)}, and is it {rng.choice(VERBS).split()[-2]} by {rng.choice(OWNERS)}? ({i})"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def start_rag(var_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "RAG_GRPC_PORT": str(port), "RAG_VAR_DIR": str(var_dir), "RAG_LOG_LEVEL": "info",
           "RAG_OPTIMIZE_AFTER_POINTS": "1000", "EMBEDDING_CACHE_DIR": str(ROOT / "var" / "models"), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "rag", "migrate"], env=env, check=True, capture_output=True)
    return subprocess.Popen([sys.executable, "-m", "rag"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def wait_index_built(log: Path, builds: int, timeout: float = 900) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if log.read_text().count("edge optimize finished") >= builds:
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError("HNSW build did not finish")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pool", type=int, default=2000)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    rng = random.Random(11)
    embedder = get_embedder(EmbeddingSettings(cache_dir=ROOT / "var" / "models"))
    texts = [passage(rng) for _ in range(args.pool)]
    t = time.perf_counter()
    pool = embedder.encode(texts, batch_size=64)
    print(f"embedded {len(texts)} pool passages in {time.perf_counter() - t:.0f} s")

    var_dir = Path(tempfile.mkdtemp())
    log = var_dir / "rag.log"
    port = free_port()
    proc = start_rag(var_dir, port, log)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
    stub = rag_pb2_grpc.RagServiceStub(channel)
    results = []
    try:
        grpc.channel_ready_future(channel).result(timeout=60)
        owners = [common_pb2.Caller(user_id=f"usr_{o:02d}", tenant_id=f"tenant_{o % 4}") for o in range(20)]
        reader = owners[0]
        documents = []  # (id, owner)
        for d in range(100):
            owner = owners[d % 20]
            visibility = "tenant" if d % 3 == 0 else "private"
            for attempt in range(120):
                try:
                    reply = stub.CreateDocuments(pb.CreateDocumentsRequest(documents=[pb.CreateDocumentRequest(
                        caller=owner, filename=f"doc{d}.md", sha256=hashlib.sha256(f"doc{d}".encode()).hexdigest(),
                        blob_key=new_id("doc"), visibility=visibility)]), timeout=10)
                    break
                except grpc.RpcError:
                    time.sleep(0.5)  # the service is still loading its model
            documents.append((reply.results[0].document.id, owner))
        stub.StartProcessingMany(pb.StartProcessingManyRequest(document_ids=[doc_id for doc_id, _ in documents],
                                                               time_limit_seconds=3600, max_attempts=1), timeout=10)
        inserted = 0
        builds = 0
        for size in sizes:
            t = time.perf_counter()
            while inserted < size:
                batch = []
                doc_id, _ = documents[(inserted // 1000) % len(documents)]
                for k in range(min(500, size - inserted)):
                    i, j = rng.randrange(args.pool), rng.randrange(args.pool)
                    vec = pool[i] + pool[j]
                    vec /= np.linalg.norm(vec)
                    batch.append(pb.Chunk(chunk_index=inserted + k, text=f"{texts[i]} {texts[j]}", section=f"Part {k % 7}",
                                          dense=vec.tolist()))
                stub.UpsertChunks(pb.UpsertChunksRequest(document_id=doc_id, embedding_model=embedder.model_id, chunks=batch), timeout=120)
                inserted += len(batch)
            load_s = time.perf_counter() - t
            # Documents get chunks again at the next size; FinishDocument recounts their points each time.
            for doc_id, _ in documents:
                stub.FinishDocument(pb.FinishDocumentRequest(document_id=doc_id, success=True, chunk_count=10**9), timeout=60)
            builds += 1
            build_s = wait_index_built(log, builds)
            visible = sum(1 for d, (doc_id, owner) in enumerate(documents)
                          if owner.user_id == reader.user_id or (owner.tenant_id == reader.tenant_id and d % 3 == 0))
            print(f"{size} chunks: loaded in {load_s:.0f} s, HNSW built {build_s:.0f} s later; reader sees {visible}/100 documents")
            for mode, dense_only in (("dense", True), ("hybrid", False)):
                latencies = []
                for q in range(args.queries):
                    text = question(rng, q + size + (0 if dense_only else 10**6))
                    t0 = time.perf_counter()
                    reply = stub.Search(pb.SearchRequest(caller=reader, query=text, top_k=5, dense_only=dense_only), timeout=30)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    assert all(h.chunk.owner_id == reader.user_id or h.chunk.tenant_id == reader.tenant_id for h in reply.hits)
                row = {"size": size, "mode": mode, "p50": pct(latencies, 0.5), "p95": pct(latencies, 0.95),
                       "p99": pct(latencies, 0.99), "hits": len(reply.hits)}
                results.append(row)
                print(f"  {mode:6s} p50 {row['p50']:6.1f} ms  p95 {row['p95']:6.1f} ms  p99 {row['p99']:6.1f} ms")
    finally:
        proc.terminate()
        proc.wait(30)
    # Query embedding alone, for reference.
    t0 = time.perf_counter()
    for q in range(100):
        embedder.encode([question(rng, 10**7 + q)])
    embed_ms = (time.perf_counter() - t0) * 10
    lines = [
        "# Search latency benchmark (embedded mode)", "",
        f"Qdrant Edge in the rag service, over gRPC on loopback, query embedding (ONNX int8) included; "
        f"{args.queries} distinct queries per cell, top 5, access filter (reader sees own + tenant-shared documents); "
        f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
        "| chunks | mode | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|",
        *[f"| {r['size']:,} | {r['mode']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} |" for r in results],
        "", f"Embedding one query alone: {embed_ms:.1f} ms on average. Target: p95 ≤ 100 ms at 100k.",
    ]
    out = ROOT / "bench" / "results" / "search.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
