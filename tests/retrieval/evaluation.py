"""Question sets with verbatim evidence, and the retrieval metrics computed from them.

A question set is a JSONL file under `questions/`: one question a line with the evidence (a
sentence, a table row, a line of code or configuration copied from the source), the section it
sits in, the source file, a kind (prose, table, config, code, number, paraphrase) and a split:
`dev` questions may be studied when changing retrieval, `test` questions are only measured.

Whether a returned chunk holds the evidence, and the metrics per question (recall@k, MRR@k,
nDCG@k), are `chatbot_eval.retrieval`'s, as `chatbot-eval` computes them against a deployment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chatbot_eval import retrieval

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "questions"
CORPORA = HERE / "corpora"
# Each set: its question file and the files of its corpus.
SETS: dict[str, tuple[Path, list[Path]]] = {
    "guide": (QUESTIONS / "guide.jsonl", [CORPORA / "enterprise-llm-chatbot-guide.txt"]),
    "mixed": (QUESTIONS / "mixed.jsonl", [CORPORA / "mixed" / name for name in
                                          ("operations-manual.pdf", "volunteer-handbook.docx", "rider-help.html")]),
}


@dataclass(frozen=True)
class Question:
    id: str
    split: str
    kind: str
    question: str
    evidence: str
    section: str
    source: str


def load(name: str) -> list[Question]:
    path, _ = SETS[name]
    return [Question(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Scores:
    """A set's means of chatbot_eval's per-question retrieval scores over the top k."""

    questions: int
    recall_at_1: float
    recall_at_3: float
    recall_at_5: float
    mrr_at_5: float
    ndcg_at_5: float


def score(ranks: Iterable[int | None], k: int = 5) -> Scores:
    rows = [retrieval.per_question(rank, k) for rank in ranks]

    def mean(name: str) -> float:
        return retrieval.mean(row[name] for row in rows) or 0.0

    return Scores(len(rows), mean("recall@1"), mean("recall@3"), mean(f"recall@{k}"), mean(f"mrr@{k}"), mean(f"ndcg@{k}"))
