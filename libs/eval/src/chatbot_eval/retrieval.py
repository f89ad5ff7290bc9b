"""Retrieval metrics from where the first passage holding a question's evidence ranks.

A retrieved passage is a hit when it contains the evidence text, both compared case-folded with
whitespace collapsed and table-cell separators (`|`) read as spaces: each parser joins cells and
wraps lines its own way, and a question set is written by hand. Per question, over the top k:
recall@k (a hit in the top k), reciprocal rank (1/rank of the first hit) and nDCG@k with one
relevant passage (1/log2(1 + rank)).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def normalise(text: str) -> str:
    return " ".join(text.replace("|", " ").casefold().split())


def first_hit(passages: Sequence[str], evidence: str) -> int | None:
    """The 1-based rank of the first passage that holds the evidence, or None."""
    wanted = normalise(evidence)
    if not wanted:
        return None
    for rank, text in enumerate(passages, start=1):
        if wanted in normalise(text):
            return rank
    return None


def recall_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None, k: int) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def ndcg_at(rank: int | None, k: int) -> float:
    return 1.0 / math.log2(1 + rank) if rank is not None and rank <= k else 0.0


def per_question(rank: int | None, k: int) -> dict[str, float]:
    """The question's retrieval scores: recall@1, @3 and @k, MRR@k and nDCG@k."""
    scores = {f"recall@{n}": recall_at(rank, n) for n in sorted({1, 3, k}) if n <= k}
    scores[f"mrr@{k}"] = reciprocal_rank(rank, k)
    scores[f"ndcg@{k}"] = ndcg_at(rank, k)
    return scores


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that exist (a metric the judge could not give is left out)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
