import pytest

from chatbot_eval import compare as cmp
from chatbot_eval.answers import average_precision
from chatbot_eval.runner import summarise


def _run(rows):
    return {"created_at": "t", "summary": summarise(rows), "questions": rows}


BEFORE = _run([{"id": "a", "scores": {"recall@5": 1.0, "faithfulness": 0.8}},
               {"id": "b", "scores": {"recall@5": 0.0, "faithfulness": 1.0}}])
AFTER = _run([{"id": "a", "scores": {"recall@5": 1.0, "faithfulness": 0.4}},
              {"id": "b", "scores": {"recall@5": 1.0, "faithfulness": 1.0}},
              {"id": "c", "scores": {"recall@5": 1.0, "faithfulness": None}}])


def test_per_metric_and_per_question_changes():
    result = cmp.compare(AFTER, BEFORE)
    by = {c.metric: c for c in result.metrics}
    assert by["recall@5"].verdict() == "improved" and by["faithfulness"].verdict() == "regressed"
    assert [c.metric for c in result.regressed["a"]] == ["faithfulness"]
    assert [c.metric for c in result.improved["b"]] == ["recall@5"]
    assert result.only_now == ["c"] and result.only_before == []


def test_gates_fail_on_a_floor_a_regression_or_a_metric_not_measured():
    result = cmp.compare(AFTER, BEFORE)
    assert cmp.gate(AFTER, result, {}, {}) == []
    assert cmp.gate(AFTER, result, {"recall@5": 0.9}, {}) == []
    failures = cmp.gate(AFTER, result, {"faithfulness": 0.9, "context_recall": 0.5}, cmp.parse_thresholds(["0.1"], "x"))
    assert any(f.startswith("faithfulness: 0.700 is under") for f in failures)
    assert any(f.startswith("context_recall: not measured") for f in failures)
    assert any(f.startswith("faithfulness: fell 0.200") for f in failures)
    assert cmp.gate(AFTER, result, {}, {"faithfulness": 0.25}) == []
    with pytest.raises(ValueError):
        cmp.parse_thresholds(["faithfulness=high"], "--fail-under")


def test_context_precision_rewards_useful_passages_ranked_first():
    assert average_precision([1, 1, 0]) == 1.0
    assert average_precision([0, 0, 1, 1, 0]) == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert average_precision([0, 0]) == 0.0
