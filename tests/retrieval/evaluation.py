"""Question sets with verbatim evidence, and the retrieval metrics computed from them.

A question set is a JSONL file under `questions/`: one question a line with the evidence (a
sentence, a table row, a line of code or configuration copied from the source), the section it
sits in, the source file, a kind (prose, table, config, code, number, paraphrase) and a split:
`dev` questions may be studied when changing retrieval, `test` questions are only measured.

A returned chunk is a hit when it contains the evidence, both compared with whitespace collapsed
and table-cell separators (`|`) read as spaces, because each format's parser joins cells its own
way. Metrics are per question over the top k: recall@k (a hit in the top k), MRR@k (1/rank of
the first hit) and nDCG@k with one relevant passage (1/log2(1 + rank of the first hit)).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def normalise(text: str) -> str:
    return " ".join(text.replace("|", " ").split())


def first_hit(chunks: Sequence[str], evidence: str) -> int | None:
    """The 1-based rank of the first chunk that holds the evidence, or None."""
    wanted = normalise(evidence)
    for rank, text in enumerate(chunks, start=1):
        if wanted in normalise(text):
            return rank
    return None


@dataclass
class Scores:
    questions: int
    recall_at_1: float
    recall_at_3: float
    recall_at_5: float
    mrr_at_5: float
    ndcg_at_5: float

    def row(self) -> list[str]:
        return [f"{self.recall_at_1:.3f}", f"{self.recall_at_3:.3f}", f"{self.recall_at_5:.3f}", f"{self.mrr_at_5:.3f}",
                f"{self.ndcg_at_5:.3f}"]


def score(ranks: Iterable[int | None], k: int = 5) -> Scores:
    ranks = [r if r is not None and r <= k else None for r in ranks]
    n = max(1, len(ranks))
    return Scores(
        questions=len(ranks),
        recall_at_1=sum(1 for r in ranks if r and r <= 1) / n,
        recall_at_3=sum(1 for r in ranks if r and r <= 3) / n,
        recall_at_5=sum(1 for r in ranks if r and r <= 5) / n,
        mrr_at_5=sum(1 / r for r in ranks if r) / n,
        ndcg_at_5=sum(1 / math.log2(1 + r) for r in ranks if r) / n,
    )
