"""One trace per request across the fleet, found from the X-Trace-Id the gateway returns: a chat
turn's spans in the gateway, the conversation service, the orchestrator (with the GenAI
attributes, no text) and rag; an upload's in the gateway, the worker (through the broker) and
rag. (That log lines carry the trace id is tested with the log formatter, in libs/common.)"""

from __future__ import annotations

import json
import time

import pytest

from e2e_support import auth, upload, wait_for_document

pytestmark = pytest.mark.e2e

SECRET_WORDS = "Perihelion of the marmalade comet"


def spans_of(fleet, trace_id: str, services: set[str], timeout: float = 30, until=lambda found: True) -> dict[str, list[dict]]:
    """The spans of one trace per service, once every one of `services` has exported some and
    `until(found)` holds (the processors export in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for path in (fleet.var_dir / "traces").glob("*.jsonl"):
            spans = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
            found[path.stem] = [s for s in spans if s["context"]["trace_id"] == "0x" + trace_id]
        if all(found.get(name) for name in services) and until(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_chat_turn_is_one_trace_across_the_services(http, fleet, alice):
    # a grounded turn (a document to retrieve from, so the model is asked rather than refusing)
    reply = upload(http, alice, "comet.txt", f"{SECRET_WORDS} falls on the ninth of March, at dawn.".encode())
    assert wait_for_document(http, alice, reply.json()["documents"][0]["id"])["status"] == "indexed"
    body = {"message": f"{SECRET_WORDS}: when is it?", "model": "fake:fake-model", "use_rag": True}
    reply = http.post("/api/v1/chat", json=body, headers=auth(alice))
    assert reply.status_code == 200, reply.text
    trace_id = reply.headers["x-trace-id"]
    assert len(trace_id) == 32 and int(trace_id, 16)
    spans = spans_of(fleet, trace_id, {"gateway", "conversation", "llm", "rag"},
                     until=lambda found: any(s["name"] == "chat fake-model" for s in found["llm"])
                     and any(s["name"].endswith("/Chat") for s in found["conversation"]))
    assert all(spans.get(name) for name in ("gateway", "conversation", "llm", "rag")), {k: len(v) for k, v in spans.items()}
    # every span of the trace hangs off the gateway's request span. (The gRPC instrumentation
    # exports the server span of a response stream, Chat, without its remote parent's id; the
    # trace id is what joins it, and the spans under it name it as their parent.)
    ids = {s["context"]["span_id"] for group in spans.values() for s in group}
    roots = {s["name"] for group in spans.values() for s in group if not s.get("parent_id") or s["parent_id"] not in ids}
    streams = {"/chatbot.conversation.v1.ConversationService/Chat", "/chatbot.llm.v1.LlmOrchestrator/Generate"}
    assert roots <= {"POST /api/v1/chat", *streams} and "POST /api/v1/chat" in roots, roots

    attempt = next(s for s in spans["llm"] if s["name"] == "chat fake-model")
    attributes = attempt["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.provider.name"] == "fake"
    assert attributes["gen_ai.request.model"] == attributes["gen_ai.response.model"] == "fake-model"
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert attributes["chatbot.time_to_first_token_ms"] >= 0
    chat = next(s for s in spans["conversation"] if s["name"].endswith("/Chat"))
    assert chat["attributes"]["gen_ai.conversation.id"] == reply.json()["conversation_id"]
    assert reply.json()["provider"] == "fake" and reply.json()["citations"], "the answer is grounded"
    search = next(s for s in spans["rag"] if s["name"].endswith("/Search"))
    assert search["attributes"]["chatbot.retrieval.results"] >= 1 and search["attributes"]["chatbot.retrieval.searchable_documents"] >= 1
    # never the question or the answer in any span
    everything = json.dumps(spans)
    assert SECRET_WORDS not in everything and reply.json()["content"].strip() not in everything


def test_an_upload_is_one_trace_through_the_broker_to_the_worker_and_rag(http, fleet, alice):
    reply = upload(http, alice, "traced.txt", b"The lighthouse keeper logged the storm at 03:10 on the ninth night.")
    assert reply.status_code in (201, 202), reply.text
    trace_id = reply.headers["x-trace-id"]
    document = wait_for_document(http, alice, reply.json()["documents"][0]["id"])
    assert document["status"] == "indexed"
    def worker_called_rag(found) -> bool:
        worker_spans = {s["context"]["span_id"] for s in found.get("ingest", [])}
        return any(s.get("parent_id") in worker_spans for s in found.get("rag", []))

    def whole(found) -> bool:
        # The task's own span ends after the calls it made, so it is exported after them (often
        # in the worker's next batch): wait for it too, not only for the calls.
        return worker_called_rag(found) and any(s["name"].startswith("run/") for s in found.get("ingest", [])) \
            and any(s["name"].startswith("apply_async/") for s in found.get("gateway", []))

    spans = spans_of(fleet, trace_id, {"gateway", "ingest", "rag"}, until=whole)
    assert spans.get("ingest") and spans.get("rag"), {k: len(v) for k, v in spans.items()}
    names = {s["name"] for s in spans["ingest"]}
    assert any(name.startswith("run/") for name in names), names  # the task, continued from its headers
    assert worker_called_rag(spans), {s["name"] for s in spans["rag"]}  # the worker's calls to rag, in the same trace
    assert any(name.startswith("apply_async/") for name in {s["name"] for s in spans["gateway"]})
