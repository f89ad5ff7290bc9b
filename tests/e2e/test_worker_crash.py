"""A worker killed with SIGKILL in the middle of a document, on the real Redis broker and on
the real RabbitMQ: the document still ends `indexed`, exactly once (every chunk once, no
duplicate vectors). Redis hands the unacknowledged task back after its visibility timeout,
RabbitMQ as soon as the connection drops; the reaper covers a task that never comes back."""

from __future__ import annotations

import random
import signal
import time

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from e2e_support import NO_RATE_LIMITS, auth, register_and_login, wait_for_document
from fleet import Fleet, Ports, free_port
from ingest_worker.chunking import chunk_document, match_units
from ingest_worker.parsing import parse
from sample_docs import make_text

pytestmark = pytest.mark.e2e
TIME_LIMIT = 20


def _rabbit_vhost() -> tuple[str, callable]:
    """A fresh virtual host on the local RabbitMQ, so runs never share queues."""
    import subprocess

    vhost = f"chatbot-e2e-{random.randint(0, 10**9)}"
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True)
    return f"amqp://guest:guest@127.0.0.1:5672/{vhost}", lambda: subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def broker_fleet(request, tmp_path_factory):
    if request.param == "redis":
        url = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
        redis.Redis.from_url(url).flushdb()
        cleanup = lambda: redis.Redis.from_url(url).flushdb()  # noqa: E731
    else:
        url, cleanup = _rabbit_vhost()
    var_dir = tmp_path_factory.mktemp(f"fleet-{request.param}")
    # The rag service's metrics show when the worker has indexed part of the document.
    metrics_port = free_port()
    env = {"INGEST_BROKER_URL": url, "GATEWAY_BROKER_URL": url, "INGEST_TASK_TIME_LIMIT_SECONDS": str(TIME_LIMIT),
           "INGEST_REAP_INTERVAL_SECONDS": "1", "INGEST_EMBED_BATCH_SIZE": "16", "LLM_LOCAL_N_CTX": "2048",
           "RAG_METRICS_PORT": str(metrics_port), **NO_RATE_LIMITS}
    fleet = Fleet(var_dir, Ports.free(), env, log_dir=var_dir / "logs")
    fleet.rag_metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        fleet.start(timeout=120)
        yield fleet
    finally:
        fleet.stop()
        cleanup()


def rag_calls(fleet: Fleet, method: str) -> int:
    """How many calls of `method` the rag service has answered OK."""
    text = httpx.get(fleet.rag_metrics_url, timeout=5).text
    return int(sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                   if sample.name == "grpc_server_handled_total" and sample.labels.get("grpc_method") == method
                   and sample.labels.get("grpc_code") == "OK"))


def big_document() -> bytes:
    # About 230 indexed pieces (15 batches): a restarted worker indexes it well inside the time
    # limit on a busy machine, so the attempt that finishes is the second.
    sections = [(f"Chapter {n}", [" ".join(f"In chapter {n}, rule {i} assigns form F-{n}-{i} to desk {i % 9} on day {i % 28}."
                                           for i in range(20))]) for n in range(40)]
    return make_text("Filing Rules", sections)


def test_sigkill_mid_task_still_indexes_exactly_once(broker_fleet):
    data = big_document()
    expected_chunks = len(match_units(chunk_document(parse(data, "rules.txt"))))  # the points indexed
    assert expected_chunks > 150
    with httpx.Client(base_url=broker_fleet.url, timeout=60) as http:
        user = register_and_login(http)
        # One upload, so one task: the large document first, two small ones waiting behind it.
        small = [make_text(f"Memo {n}", [("Note", [f"Memo {n} moves the archive review to room {n + 11}."])]) for n in range(2)]
        reply = http.post("/api/v1/documents", headers=auth(user), files=[
            ("files", ("rules.txt", data)), ("files", ("memo-0.txt", small[0])), ("files", ("memo-1.txt", small[1]))])
        assert reply.status_code == 202, reply.text
        doc_id, *memo_ids = [d["id"] for d in reply.json()["documents"]]

        # Wait until the worker is inside the task and has indexed part of the document: its
        # first batch reached the vector store (of more than ten).
        deadline = time.monotonic() + 60
        while rag_calls(broker_fleet, "UpsertChunks") == 0:
            assert time.monotonic() < deadline, "the worker indexed nothing within 60 s"
            time.sleep(0.02)
        worker = broker_fleet.processes["ingest-worker"]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert http.get(f"/api/v1/documents/{doc_id}", headers=auth(user)).json()["status"] == "processing"

        broker_fleet.processes["ingest-worker"] = broker_fleet._spawn("ingest-worker-2", "ingest_worker")
        doc = wait_for_document(http, user, doc_id, timeout=TIME_LIMIT * 3 + 60)
        assert doc["status"] == "indexed", doc
        assert doc["attempts"] == 2  # the killed attempt and the one that finished
        # The registry's count is what the vector store holds for the document: every chunk, once.
        assert doc["chunk_count"] == expected_chunks
        hits = http.post("/api/v1/search", headers=auth(user), json={"query": "which desk gets form F-7-13", "top_k": 50}).json()["hits"]
        ids = [h["chunk"]["chunk_id"] for h in hits]
        assert len(ids) == len(set(ids))
        # The documents that waited in the killed task were taken over with it, each indexed once.
        for n, memo_id in enumerate(memo_ids):
            memo = wait_for_document(http, user, memo_id, timeout=60)
            assert (memo["status"], memo["attempts"], memo["chunk_count"]) == ("indexed", 2, 1), memo
            hits = http.post("/api/v1/search", headers=auth(user), json={"query": f"Memo {n} archive review room",
                                                                         "document_ids": [memo_id]}).json()["hits"]
            assert [h["chunk"]["chunk_index"] for h in hits] == [0]
