"""Evaluation over the real fleet: `chatbot-eval` run against it with a small question file
(report and exit code), and online evaluation of a tenant's grounded turns (scores stored with
the message by the worker's Celery task, listed for admins with the person's rating; a judge that
answers nonsense fails the evaluation, never the turn). The judge is the scripted fake upstream,
reached through the llm-orchestrator (INGEST_EVALUATION_JUDGE_* in the fleet's settings)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from e2e_support import add_colleague, auth, register_and_login, upload, wait_for_document

pytestmark = pytest.mark.e2e

DOC = (b"# Audit policy\n\nAudit events are retained for 400 days in the primary region, then deleted.\n\n"
       b"Exports of the audit log are signed with the tenant's key.\n")
QUESTION = "How long are audit events retained?"
ANSWER = "Audit events are kept for 400 days [1]. They are stored in Iceland."
CLAIMS = ["Audit events are kept for 400 days.", "Audit events are stored in Iceland."]


def _judge_rules(useful: int) -> list[dict]:
    """The judge's verdicts: the first claim supported, the second not; each passage `useful`."""
    return [
        {"match": "Break the answer below", "text": json.dumps({"claims": CLAIMS})},
        {"match": "For each numbered claim", "text": json.dumps({"verdicts": [{"verdict": 1}, {"verdict": 0}]})},
        {"match": "was useful in arriving", "text": json.dumps({"verdicts": [{"verdict": useful}]})},
        {"match": "can be attributed to the context", "text": json.dumps({"verdicts": [{"verdict": 1}]})},
        {"match": "Write 3 different questions", "text": json.dumps({"questions": [QUESTION] * 3, "noncommittal": 0})},
    ]


@pytest.fixture
def indexed(http, fleet):
    """An admin, a member of the same organisation, and the member's document, indexed."""
    admin = register_and_login(http)
    member = add_colleague(http, admin)
    reply = upload(http, member, "audit.md", DOC)
    assert reply.status_code == 202, reply.text
    assert wait_for_document(http, member, reply.json()["documents"][0]["id"])["status"] == "indexed"
    yield admin, member
    fleet.upstream.control(answers=[], script="")


def _evaluation(http, admin, message_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = http.get("/api/v1/admin/evaluations", headers=auth(admin), params={"limit": 100})
        assert reply.status_code == 200, reply.text
        found = [e for e in reply.json()["evaluations"] if e["message_id"] == message_id]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no evaluation of {message_id} after {timeout}s")


def test_online_evaluation_scores_a_grounded_turn_and_lists_it_for_admins(http, fleet, indexed):
    admin, member = indexed
    assert http.get("/api/v1/admin/evaluation-policy", headers=auth(admin)).json() == {"share": 0.0}
    assert http.put("/api/v1/admin/evaluation-policy", headers=auth(member), json={"share": 1}).status_code == 403
    assert http.get("/api/v1/admin/evaluations", headers=auth(member)).status_code == 403
    assert http.put("/api/v1/admin/evaluation-policy", headers=auth(admin), json={"share": 1.5}).status_code == 400
    assert http.put("/api/v1/admin/evaluation-policy", headers=auth(admin), json={"share": 1.0}).json() == {"share": 1.0}

    fleet.upstream.control(script=ANSWER, answers=_judge_rules(useful=1))
    turn = http.post("/api/v1/chat", headers=auth(member), json={"message": QUESTION, "model": "fake:fake-model", "use_rag": True})
    assert turn.status_code == 200, turn.text
    answer = turn.json()
    assert answer["content"] == ANSWER and len(answer["citations"]) == 1
    feedback = f"/api/v1/conversations/{answer['conversation_id']}/messages/{answer['id']}/feedback"
    assert http.put(feedback, headers=auth(member), json={"rating": "down"}).status_code == 200

    evaluation = _evaluation(http, admin, answer["id"])
    assert evaluation["status"] == "done" and evaluation["error"] is None
    assert (evaluation["claims"], evaluation["supported_claims"]) == (2, 1)
    scores = evaluation["scores"]
    assert scores["faithfulness"] == 0.5 and scores["context_precision"] == 1.0 and scores["context_recall"] is None
    assert isinstance(scores["answer_relevance"], float)  # the worker's embedding model compared the questions
    assert evaluation["feedback"] == "down" and evaluation["model"] == "fake-model" and evaluation["judge_model"] == "fake:fake-model"
    assert "content" not in evaluation and "question" not in evaluation  # admins see scores, not a colleague's words
    listed = lambda **q: [e["message_id"] for e in http.get("/api/v1/admin/evaluations", headers=auth(admin), params=q).json()["evaluations"]]  # noqa: E731
    assert answer["id"] in listed(feedback="down", max_faithfulness=0.5)
    assert answer["id"] not in listed(feedback="up") and answer["id"] not in listed(max_faithfulness=0.4)
    assert http.get("/api/v1/admin/evaluations", headers=auth(admin), params={"feedback": "maybe"}).status_code == 400
    # Another organisation's admin sees none of it.
    assert answer["id"] not in [e["message_id"] for e in http.get("/api/v1/admin/evaluations", headers=auth(register_and_login(http))).json()["evaluations"]]

    # A judge that answers nonsense: the evaluation fails, the turn is whole.
    fleet.upstream.control(answers=[{"match": "Break the answer below|was useful in arriving|Write 3 different questions",
                                     "text": "Looks fine to me."}])
    turn = http.post("/api/v1/chat", headers=auth(member), json={"message": QUESTION, "model": "fake:fake-model", "use_rag": True})
    assert turn.status_code == 200 and turn.json()["content"] == ANSWER and turn.json()["finish_reason"] == "stop"
    failed = _evaluation(http, admin, turn.json()["id"])
    assert failed["status"] == "failed" and "judge_output_unparseable" in failed["error"]
    assert failed["scores"]["faithfulness"] is None


def test_chatbot_eval_reports_and_gates_a_deployment(http, fleet, indexed, tmp_path):
    admin, _ = indexed
    key = http.post("/api/v1/admin/api-keys", headers=auth(admin), json={"name": "eval", "scopes": ["chat", "documents:read"]}).json()["key"]
    # The admin's own document (keys act for the admin): the same text.
    reply = upload(http, admin, "audit.md", DOC)
    assert wait_for_document(http, admin, reply.json()["documents"][0]["id"])["status"] == "indexed"
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"id": "retention", "question": QUESTION, "evidence": "retained for 400 DAYS in the primary   region",
         "reference": "Audit events are retained for 400 days."},
        {"question": "Who signs exports of the audit log?", "evidence": "signed with the tenant's key"},
    ]) + "\n")
    fleet.upstream.control(script=ANSWER, answers=_judge_rules(useful=1))
    command = [sys.executable, "-m", "chatbot_eval.cli", str(questions), "--base-url", fleet.url, "--api-key", key,
               "--judge-model", "fake:fake-model", "--model", "fake:fake-model", "--no-embeddings"]
    first = subprocess.run([*command, "--out", str(tmp_path / "first"), "--fail-under", "recall@5=1", "--fail-under", "faithfulness=0.5"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    results = json.loads((tmp_path / "first" / "results.json").read_text())
    assert results["summary"]["recall@5"] == {"mean": 1.0, "questions": 2}
    assert results["summary"]["faithfulness"] == {"mean": 0.5, "questions": 2}
    assert results["summary"]["context_recall"] == {"mean": 1.0, "questions": 1}  # only the question with a reference
    page = (tmp_path / "first" / "report.html").read_text()
    assert "<svg" in page and "faithfulness" in page and "Who signs exports" in page
    assert "| faithfulness | 0.500 | 2 |" in (tmp_path / "first" / "report.md").read_text()
    assert "questions" in first.stderr  # the progress bar

    # The judge now finds the passages useless: precision regresses, and the gate fails the run.
    fleet.upstream.control(answers=_judge_rules(useful=0))
    second = subprocess.run([*command, "--out", str(tmp_path / "second"), "--compare", str(tmp_path / "first" / "results.json"),
                             "--max-regression", "context_precision=0.1"], capture_output=True, text=True, timeout=300)
    assert second.returncode == 1, second.stderr
    assert "context_precision: fell 1.000" in second.stderr
    assert "2 regressed" in second.stdout
    assert "Regressed (2 questions)" in (tmp_path / "second" / "report.md").read_text()
    # A key the deployment refuses: the run cannot be made (exit 3), nothing to gate.
    refused = subprocess.run([*command[:6], "--api-key", "cbk_" + "0" * 43, "--out", str(tmp_path / "third")],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3, refused.stderr
