"""Online evaluation as admins see it: the tenant's sampling share, and judged answers with their
scores beside the person's rating (never the question or the answer: those stay the owner's)."""

from __future__ import annotations

from datetime import UTC

from pydantic import BaseModel, ConfigDict, Field

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.timeutil import iso
from gateway.api.schemas.common import Pagination, pagination


class EvaluationPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    share: float = Field(ge=0.0, le=1.0, description="share of grounded answers judged in the background (0: off, 1: all)",
                         allow_inf_nan=False)


class EvaluationPolicyOut(BaseModel):
    share: float


class EvaluationScoresOut(BaseModel):
    faithfulness: float | None = Field(None, description="share of the answer's claims the cited passages support")
    answer_relevance: float | None = Field(None, description="how well the answer addresses the question")
    context_precision: float | None = Field(None, description="useful passages ranked first")
    context_recall: float | None = Field(None, description="needs a reference answer: none for live turns")


class EvaluationOut(BaseModel):
    message_id: str
    conversation_id: str
    user_id: str
    model: str
    provider: str
    scores: EvaluationScoresOut
    claims: int
    supported_claims: int
    status: str = Field(description="done, or failed when the judge gave no faithfulness score")
    error: str | None = Field(None, description="why scores are missing (judge_unavailable, judge_output_unparseable, ...)")
    judge_model: str
    feedback: str | None = Field(None, description="the person's rating of the answer: up, down or null")
    answered_at: str
    evaluated_at: str


class EvaluationList(BaseModel):
    evaluations: list[EvaluationOut]
    pagination: Pagination


def _score(scores: pb.EvaluationScores, name: str) -> float | None:
    return round(getattr(scores, name), 4) if scores.HasField(name) else None


def evaluation_out(e: pb.Evaluation) -> EvaluationOut:
    names = ("faithfulness", "answer_relevance", "context_precision", "context_recall")
    return EvaluationOut(
        message_id=e.message_id, conversation_id=e.conversation_id, user_id=e.user_id, model=e.model, provider=e.provider,
        scores=EvaluationScoresOut(**{n: _score(e.scores, n) for n in names}), claims=e.claims, supported_claims=e.supported_claims,
        status=e.status, error=e.error or None, judge_model=e.judge_model, feedback={1: "up", -1: "down"}.get(e.rating),
        answered_at=iso(e.answered_at.ToDatetime(tzinfo=UTC)), evaluated_at=iso(e.evaluated_at.ToDatetime(tzinfo=UTC)))


def evaluation_list(reply: pb.ListEvaluationsResponse) -> EvaluationList:
    return EvaluationList(evaluations=[evaluation_out(e) for e in reply.evaluations], pagination=pagination(reply.page))
