"""Retrieval quality on the committed question sets (tests/retrieval/questions): the design guide
and the mixed PDF/DOCX/HTML corpus, ingested by the worker's real pipeline (parsing, chunking,
the int8 ONNX embedder) into the real rag service (Qdrant Edge, hybrid search), every question
asked once; a hit is a passage that holds the question's verbatim evidence.

The floors sit below what this code measures (bench/results/retrieval.md: guide hybrid R@5 0.925,
R@3 0.887, MRR@5 0.788; mixed 1.000, 1.000, 0.984) by several questions' worth, because int8
kernels differ between CPUs (AVX2, AVX-512 VNNI) and move near-ties. The guide's floors are
below issue 14's targets (R@5 29/30, R@3 27/30, MRR@5 0.80), which this code does not yet reach
on it; the mixed set's meet them. Each run's figures go to var/reports/question_set_quality.json.
"""

import json
from pathlib import Path

import pytest

from evaluation import first_hit, load, score
from harness import KnowledgeBase

pytestmark = pytest.mark.contract
REPORT = Path(__file__).resolve().parents[2] / "var" / "reports" / "question_set_quality.json"
FLOORS = {  # set: (recall@5, recall@3, MRR@5) for hybrid search
    "guide": (0.88, 0.83, 0.72),
    "mixed": (0.95, 0.90, 0.85),
}


async def test_hybrid_search_finds_the_evidence_on_both_question_sets(tmp_path):
    report = {}
    async with KnowledgeBase(tmp_path) as kb:
        for name in FLOORS:
            ingested = await kb.ingest(name)
            ranks, misses = {"hybrid": [], "dense": []}, []
            for q in load(name):
                for mode in ranks:
                    passages, _ = await kb.ask(ingested.reader, q.question, mode)
                    rank = first_hit([p.payload["text"] for p in passages], q.evidence)
                    ranks[mode].append(rank)
                    if mode == "hybrid" and rank is None:
                        misses.append(q.id)
            report[name] = {mode: vars(score(r)) for mode, r in ranks.items()} | {"chunks": ingested.chunks, "misses": misses}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    for name, (recall_5, recall_3, mrr) in FLOORS.items():
        hybrid, dense = report[name]["hybrid"], report[name]["dense"]
        assert hybrid["questions"] >= 40
        assert hybrid["recall_at_5"] >= recall_5, (name, hybrid, report[name]["misses"])
        assert hybrid["recall_at_3"] >= recall_3, (name, hybrid)
        assert hybrid["mrr_at_5"] >= mrr, (name, hybrid)
        # The keyword side earns its place: hybrid ranks the evidence higher than dense alone.
        assert hybrid["mrr_at_5"] >= dense["mrr_at_5"] + 0.05, (name, hybrid, dense)
