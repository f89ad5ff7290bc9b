"""Answer metrics as Ragas defines them, computed from a judge's verdicts.

- faithfulness: the answer broken into claims; the share of claims the retrieved context
  supports (no claim: no score);
- answer relevance: questions the judge writes back from the answer; the mean cosine similarity
  of their embeddings to the question's, 0 when the answer is noncommittal;
- context precision: each retrieved passage judged useful or not for reaching the reference (the
  answer itself when there is none, Ragas's variant without reference); the mean of precision@k
  over the ranks k of useful passages, so useful passages ranked first score higher;
- context recall: the reference answer's sentences; the share the context supports (needs a
  reference).

Each metric gives a `Score`: a value in 0..1 (relevance can dip below 0 in theory), or None with
the reason the judge gave none (`judge_unavailable`, `judge_output_unparseable`, `no_claims`,
`no_context`, `no_reference`). A metric never raises because of the judge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatbot_eval import judge as j

Embed = Callable[[list[str]], Sequence[Sequence[float]]]
# Passages are cut to this many characters in a prompt (a judge's window is finite).
PASSAGE_CHARS = 2000
QUESTIONS_PER_ANSWER = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass
class Score:
    value: float | None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _guarded(metric: Callable[[], Score]) -> Score:
    try:
        return metric()
    except j.JudgeOutputError as exc:
        return Score(None, "judge_output_unparseable", {"error": str(exc)})
    except j.JudgeError as exc:
        return Score(None, "judge_unavailable", {"error": str(exc)})


def _context(contexts: Sequence[str]) -> str:
    return "\n\n".join(f"[{n}] {c[:PASSAGE_CHARS]}" for n, c in enumerate(contexts, start=1))


def _numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{n}. {item}" for n, item in enumerate(items, start=1))


def sentences(text: str) -> list[str]:
    return [s.strip() for line in text.splitlines() for s in _SENTENCE_END.split(line) if s.strip()]


def faithfulness(judge: j.Judge, question: str, answer: str, contexts: Sequence[str]) -> Score:
    def run() -> Score:
        if not contexts:
            return Score(None, "no_context")
        claims = j.strings(j.parse_json(judge.ask(j.SYSTEM, j.CLAIMS.format(question=question, answer=answer))), "claims")
        if not claims:
            return Score(None, "no_claims")
        reply = j.parse_json(judge.ask(j.SYSTEM, j.VERDICTS.format(context=_context(contexts), claims=_numbered(claims))))
        found = j.verdicts(reply, len(claims))
        return Score(sum(found) / len(claims), details={"claims": claims, "supported": found})
    return _guarded(run)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def answer_relevance(judge: j.Judge, embed: Embed, question: str, answer: str) -> Score:
    def run() -> Score:
        reply = j.parse_json(judge.ask(j.SYSTEM, j.QUESTIONS.format(answer=answer, n=QUESTIONS_PER_ANSWER)))
        generated = j.strings(reply, "questions")
        noncommittal = j.verdict(reply.get("noncommittal", 0))
        if noncommittal:
            return Score(0.0, details={"questions": generated, "noncommittal": 1})
        if not generated:
            raise j.JudgeOutputError("the judge wrote no question")
        vectors = embed([question, *generated])
        value = sum(cosine(vectors[0], v) for v in vectors[1:]) / len(generated)
        return Score(value, details={"questions": generated, "noncommittal": 0})
    return _guarded(run)


def average_precision(found: Sequence[int]) -> float:
    """Ragas's context precision from the verdicts in rank order: the sum over ranks k of
    precision@k x v_k, over the number of useful passages (0 when none is useful)."""
    useful = sum(found)
    if not useful:
        return 0.0
    hits = 0
    total = 0.0
    for k, v in enumerate(found, start=1):
        hits += v
        total += (hits / k) * v
    return total / useful


def context_precision(judge: j.Judge, question: str, contexts: Sequence[str], reference: str) -> Score:
    """`reference`: the reference answer, or the answer itself when there is none."""
    def run() -> Score:
        if not contexts:
            return Score(None, "no_context")
        passages = "\n\n".join(f"{n}. {c[:PASSAGE_CHARS]}" for n, c in enumerate(contexts, start=1))
        reply = j.parse_json(judge.ask(j.SYSTEM, j.USEFUL.format(question=question, reference=reference, passages=passages)))
        found = j.verdicts(reply, len(contexts))
        return Score(average_precision(found), details={"useful": found})
    return _guarded(run)


def context_recall(judge: j.Judge, question: str, contexts: Sequence[str], reference: str) -> Score:
    def run() -> Score:
        parts = sentences(reference)
        if not parts:
            return Score(None, "no_reference")
        if not contexts:
            return Score(0.0, details={"sentences": parts, "attributed": [0] * len(parts)})
        reply = j.parse_json(judge.ask(j.SYSTEM, j.ATTRIBUTED.format(context=_context(contexts), sentences=_numbered(parts))))
        found = j.verdicts(reply, len(parts))
        return Score(sum(found) / len(parts), details={"sentences": parts, "attributed": found})
    return _guarded(run)


def evaluate(judge: j.Judge, embed: Embed | None, question: str, answer: str, contexts: Sequence[str],
             reference: str = "") -> dict[str, Score]:
    """Every answer metric the inputs allow: context recall needs a reference, answer relevance
    an embedding model."""
    scores = {
        "faithfulness": faithfulness(judge, question, answer, contexts),
        "context_precision": context_precision(judge, question, contexts, reference or answer),
    }
    scores["answer_relevance"] = (answer_relevance(judge, embed, question, answer) if embed is not None
                                  else Score(None, "no_embedding_model"))
    scores["context_recall"] = context_recall(judge, question, contexts, reference) if reference else Score(None, "no_reference")
    return scores
