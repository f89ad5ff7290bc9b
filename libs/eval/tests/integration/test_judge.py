"""The judge's prompts and parsing against a scripted OpenAI-compatible judge over HTTP (the fake
upstream started by the test): claims supported, unsupported, malformed output, judge down."""

from __future__ import annotations

import json

import pytest

from chatbot_eval import answers
from chatbot_eval.judge import OpenAIJudge

pytestmark = pytest.mark.contract

QUESTION = "How long are audit logs kept?"
ANSWER = "Audit logs are kept for 400 days. They are stored in Iceland."
CONTEXTS = ["Audit events are retained for 400 days in the primary region.", "The cafeteria opens at nine."]


def _rules(claims: list[str], verdicts: list[int], useful: list[int]) -> list[dict]:
    """The judge's replies, keyed on what each prompt asks (they may come in any order)."""
    return [
        {"match": r"Break the answer below", "text": "Sure! ```json\n" + json.dumps({"claims": claims}) + "\n```"},
        {"match": r"For each numbered claim",
         "text": json.dumps({"verdicts": [{"claim": i + 1, "reason": "r", "verdict": v} for i, v in enumerate(verdicts)]})},
        {"match": r"was useful in arriving",
         "text": json.dumps({"verdicts": [{"passage": i + 1, "reason": "r", "verdict": v} for i, v in enumerate(useful)]})},
        {"match": r"can be attributed to the context",
         "text": json.dumps({"verdicts": [{"sentence": 1, "reason": "r", "verdict": "yes"}]})},
        {"match": r"Write 3 different questions", "text": json.dumps({"questions": [QUESTION] * 3, "noncommittal": 0})},
    ]


@pytest.fixture
def judge(fake_upstream):
    j = OpenAIJudge(fake_upstream.base_url, "fake-model", "sk-test", attempts=3, timeout=10)
    yield j
    j.close()


def test_supported_and_unsupported_claims(fake_upstream, judge):
    claims = ["Audit logs are kept for 400 days.", "Audit logs are stored in Iceland."]
    fake_upstream.control(answers=_rules(claims, [1, 0], [1, 0]))
    scores = answers.evaluate(judge, None, QUESTION, ANSWER, CONTEXTS, reference="Audit events are kept for 400 days.")
    assert scores["faithfulness"].value == 0.5
    assert scores["faithfulness"].details == {"claims": claims, "supported": [1, 0]}
    assert scores["context_precision"].value == 1.0  # the useful passage ranks first
    assert scores["context_recall"].value == 1.0
    assert scores["answer_relevance"].value is None and scores["answer_relevance"].reason == "no_embedding_model"
    # What the judge was sent: the passages, numbered, and the claims it is to verify.
    sent = fake_upstream.stats()["last_messages"]
    assert sent[0]["role"] == "system" and "JSON" in sent[0]["content"]

    fake_upstream.control(answers=_rules(claims, [1, 1], [0, 1]))
    scores = answers.evaluate(judge, None, QUESTION, ANSWER, CONTEXTS)
    assert scores["faithfulness"].value == 1.0
    assert scores["context_precision"].value == 0.5  # the useful passage ranks second
    assert scores["context_recall"].reason == "no_reference"


def test_malformed_judge_output_gives_no_score(fake_upstream, judge):
    fake_upstream.control(answers=[{"match": "Break the answer below", "text": "I think the answer is mostly right."},
                                   {"match": "was useful in arriving", "text": '{"verdicts": [{"verdict": "perhaps"}, {"verdict": 1}]}'}])
    scores = answers.evaluate(judge, None, QUESTION, ANSWER, CONTEXTS)
    assert scores["faithfulness"].value is None and scores["faithfulness"].reason == "judge_output_unparseable"
    assert scores["context_precision"].value is None and scores["context_precision"].reason == "judge_output_unparseable"
    # Verdicts that do not match the claims one to one are no answer either.
    fake_upstream.control(answers=_rules(["one", "two", "three"], [1], [1, 0]))
    assert answers.faithfulness(judge, QUESTION, ANSWER, CONTEXTS).reason == "judge_output_unparseable"


def test_a_judge_down_or_refusing_gives_no_score_and_429_is_waited_out(fake_upstream, judge):
    claims = ["Audit logs are kept for 400 days."]
    fake_upstream.control(answers=_rules(claims, [1], [1, 0]), fail_next=1, status=429, retry_after=1)
    assert answers.faithfulness(judge, QUESTION, ANSWER, CONTEXTS).value == 1.0  # after waiting its Retry-After
    fake_upstream.control(fail_next=10, status=500, retry_after=None)
    refused = answers.faithfulness(judge, QUESTION, ANSWER, CONTEXTS)
    assert refused.value is None and refused.reason == "judge_unavailable"
    fake_upstream.control(fail_next=0)
    fake_upstream.process.terminate()
    fake_upstream.process.wait(10)
    down = answers.evaluate(judge, None, QUESTION, ANSWER, CONTEXTS, reference="Kept 400 days.")
    assert {name: s.reason for name, s in down.items() if name != "answer_relevance"} == {
        "faithfulness": "judge_unavailable", "context_precision": "judge_unavailable", "context_recall": "judge_unavailable"}


def test_answer_relevance_with_the_embedding_model(fake_upstream, judge):
    from chatbot_common.embedding import get_embedder
    from chatbot_common.settings import EmbeddingSettings

    model = get_embedder(EmbeddingSettings())
    embed = lambda texts: model.encode(list(texts)).tolist()  # noqa: E731
    fake_upstream.control(answers=[{"match": "Write 3 different questions",
                                    "text": json.dumps({"questions": ["How long are audit logs retained?",
                                                                      "For how many days are audit events kept?",
                                                                      "What is the audit log retention period?"], "noncommittal": 0})}])
    close = answers.answer_relevance(judge, embed, QUESTION, ANSWER).value
    fake_upstream.control(answers=[{"match": "Write 3 different questions",
                                    "text": json.dumps({"questions": ["What time does the cafeteria open?"] * 3, "noncommittal": 0})}])
    far = answers.answer_relevance(judge, embed, QUESTION, "The cafeteria opens at nine.").value
    assert close > far
    fake_upstream.control(answers=[{"match": "Write 3 different questions",
                                    "text": json.dumps({"questions": [QUESTION], "noncommittal": 1})}])
    assert answers.answer_relevance(judge, embed, QUESTION, "I don't know.").value == 0.0
