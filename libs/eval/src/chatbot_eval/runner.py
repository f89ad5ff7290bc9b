"""One evaluation run: each question searched (retrieval metrics) and asked (answer metrics),
the results kept as plain data a later run compares with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot_eval import answers, retrieval
from chatbot_eval.client import PlatformClient
from chatbot_eval.judge import Judge

ANSWER_METRICS = ("faithfulness", "answer_relevance", "context_precision", "context_recall")
REFERENCE_KEYS = ("reference", "reference_answer", "ground_truth", "answer")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    evidence: str = ""
    reference: str = ""


class QuestionFileError(ValueError):
    pass


def load_questions(path: Path) -> list[Question]:
    """A JSONL file: `question`, optional `evidence` (text a right passage contains), optional
    reference answer (`reference`, or `reference_answer`/`ground_truth`/`answer`), optional `id`."""
    out: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise QuestionFileError(f"{path}:{number}: each line needs a non-empty \"question\"")
        qid = str(row.get("id") or f"q{len(out) + 1:03d}")
        if qid in seen:
            raise QuestionFileError(f"{path}:{number}: id {qid!r} appears twice")
        seen.add(qid)
        reference = next((row[k] for k in REFERENCE_KEYS if isinstance(row.get(k), str) and row[k].strip()), "")
        out.append(Question(qid, row["question"].strip(), str(row.get("evidence") or ""), reference))
    if not out:
        raise QuestionFileError(f"{path}: no questions")
    return out


def retrieval_scores(client: PlatformClient, q: Question, top_k: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    hits = client.search(q.question, top_k)
    texts = [h["chunk"]["text"] for h in hits]
    row: dict[str, Any] = {"retrieved": [h["chunk"]["chunk_id"] for h in hits]}
    if q.evidence:
        rank = retrieval.first_hit(texts, q.evidence)
        row["rank"] = rank
        row["scores"] = retrieval.per_question(rank, top_k)
    return row, hits


def answer_scores(client: PlatformClient, judge: Judge, embed: answers.Embed | None, q: Question, hits: list[dict[str, Any]],
                  model: str | None, keep: bool) -> dict[str, Any]:
    reply = client.chat(q.question, model)
    known = {h["chunk"]["chunk_id"]: h["chunk"]["text"] for h in hits}
    # The context the answer was grounded in: the passages it cites, whole.
    contexts = [known.get(c["chunk_id"]) or client.chunk(c["document_id"], c["chunk_id"]) for c in reply.get("citations", [])]
    if not keep:
        client.delete_conversation(reply["conversation_id"])
    scores = answers.evaluate(judge, embed, q.question, reply["content"], contexts, q.reference)
    return {"answer": reply["content"], "model": reply.get("model", ""), "provider": reply.get("provider", ""),
            "citations": len(contexts), "scores": {k: s.value for k, s in scores.items()},
            "reasons": {k: s.reason for k, s in scores.items() if s.reason},
            "details": {k: s.details for k, s in scores.items() if s.details}}


def run(client: PlatformClient, questions: list[Question], *, top_k: int, judge: Judge | None, embed: answers.Embed | None,
        model: str | None = None, keep_conversations: bool = False,
        progress: Callable[[Iterable[Question]], Iterable[Question]] = lambda it: it) -> dict[str, Any]:
    rows = []
    for q in progress(questions):
        row: dict[str, Any] = {"id": q.id, "question": q.question, "evidence": q.evidence, "reference": q.reference}
        found, hits = retrieval_scores(client, q, top_k)
        row.update(found)
        if judge is not None:
            asked = answer_scores(client, judge, embed, q, hits, model, keep_conversations)
            row["scores"] = {**row.get("scores", {}), **asked.pop("scores")}
            row.update(asked)
        row.setdefault("scores", {})
        rows.append(row)
    return {"version": 1, "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "top_k": top_k,
            "summary": summarise(rows), "questions": rows}


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric: the mean over the questions that have it, and how many do."""
    names = list(dict.fromkeys(name for row in rows for name in row["scores"]))
    out = {}
    for name in names:
        values = [row["scores"].get(name) for row in rows]
        out[name] = {"mean": retrieval.mean(values), "questions": sum(v is not None for v in values)}
    return out
