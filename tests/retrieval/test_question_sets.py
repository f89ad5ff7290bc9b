"""The question sets are sound: every evidence string is copied verbatim from its source (once,
so a hit is unambiguous), every question names its section, and the sets are as large and as
varied as issue 14 asks."""

from collections import Counter

import pytest

from chatbot_eval.retrieval import normalise
from evaluation import SETS, load
from ingest_worker.parsing import parse


def source_texts(name: str) -> dict[str, str]:
    """The text of each source as the reader sees it: the guide's own characters; for the PDF,
    DOCX and HTML files, the text the ingest worker's parser extracts (what can ever be found)."""
    texts = {}
    for path in SETS[name][1]:
        data = path.read_bytes()
        if path.suffix == ".txt":
            texts[path.name] = data.decode("utf-8")
        else:
            texts[path.name] = "\n".join(block.text for block in parse(data, path.name).blocks)
    return texts


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_evidence_occurs_once_verbatim_in_its_source(name):
    texts = {source: normalise(text) for source, text in source_texts(name).items()}
    problems = []
    for q in load(name):
        found = texts[q.source].count(normalise(q.evidence))
        if found != 1:
            problems.append((q.id, found, q.evidence))
    assert problems == []


@pytest.mark.parametrize(("name", "at_least", "sources"), [("guide", 80, 1), ("mixed", 40, 3)])
def test_sets_are_large_and_varied(name, at_least, sources):
    questions = load(name)
    assert len(questions) >= at_least
    assert len({q.id for q in questions}) == len(questions)
    assert len({q.source for q in questions}) == sources
    kinds = Counter(q.kind for q in questions)
    assert set(kinds) <= {"prose", "table", "config", "code", "number", "paraphrase"}
    assert kinds["table"] >= 10 and kinds["paraphrase"] >= 8 and len(kinds) == 6, kinds
    splits = Counter(q.split for q in questions)
    # Held out: a third of the set or more (the guide's dev questions grew to tune on; its 66
    # held-out questions are twice the hidden set of 30).
    assert set(splits) == {"dev", "test"} and min(splits.values()) * 3 >= len(questions)
    assert all(q.question.strip() and q.section.strip() for q in questions)
    # No question copies its evidence: a question that does would test string matching only.
    assert not [q.id for q in questions if normalise(q.evidence).lower() in normalise(q.question).lower()]


def test_the_guide_questions_cover_the_whole_guide():
    chapters = {q.section.split(" ", 1)[0].split(".")[0] for q in load("guide")}
    assert {str(n) for n in range(1, 13)} <= chapters  # chapters 1-12
    assert {"A", "B", "C", "D"} <= chapters  # and the appendices
