"""Online evaluation, the judging side: a sampled answer (the conversation service enqueued its
id) is read back with its question and cited passages, judged with chatbot_eval's metrics by a
model the llm-orchestrator serves, and its scores are stored with the message and exported as
Prometheus histograms. The turn is long over: nothing here can affect it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as conv_pb
from chatbot.llm.v1 import llm_pb2
from chatbot.rag.v1 import rag_pb2
from chatbot_eval import answers
from chatbot_eval.judge import JudgeError
from ingest_worker.settings import IngestSettings
from ingest_worker.telemetry import EVALUATION_SCORE, EVALUATIONS

log = logging.getLogger(__name__)


class OrchestratorJudge:
    """A judge served by the llm-orchestrator (Complete), on the answer's owner and tenant so the
    tokens count where theirs do, never from the semantic cache."""

    def __init__(self, stub, settings: IngestSettings, caller: common_pb2.Caller) -> None:
        self._stub = stub
        self._settings = settings
        self._caller = caller
        self.model = settings.evaluation_judge_model or settings.evaluation_judge_provider or "default"

    def ask(self, system: str, prompt: str) -> str:
        request = llm_pb2.GenerateRequest(
            model=self._settings.evaluation_judge_model, provider=self._settings.evaluation_judge_provider, caller=self._caller,
            messages=[llm_pb2.ChatMessage(role="system", content=system), llm_pb2.ChatMessage(role="user", content=prompt)],
            params=llm_pb2.GenerationParams(temperature=0.0, max_tokens=self._settings.evaluation_judge_max_tokens))
        try:
            reply = self._stub.Complete(request, timeout=self._settings.evaluation_timeout_seconds)
        except grpc.RpcError as exc:
            raise JudgeError(f"the judge failed: {exc.code().name}") from None
        self.model = f"{reply.provider}:{reply.model}"
        return reply.text


@dataclass
class Stubs:
    conversation: object
    rag: object
    llm: object


def evaluate_answer(message_id: str, stubs: Stubs, settings: IngestSettings, embed: answers.Embed | None) -> str:
    """Judges one stored answer and records its scores; the outcome (done, failed, skipped)."""
    try:
        found = stubs.conversation.GetEvaluationInput(conv_pb.GetEvaluationInputRequest(message_id=message_id),
                                                      timeout=settings.rag_timeout_seconds)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:  # deleted meanwhile
            EVALUATIONS.labels("skipped").inc()
            return "skipped"
        raise
    if not found.citations:
        EVALUATIONS.labels("skipped").inc()
        return "skipped"
    caller = common_pb2.Caller(user_id=found.user_id, tenant_id=found.tenant_id)
    contexts = [_passage(stubs.rag, caller, c, settings) for c in found.citations]
    judge = OrchestratorJudge(stubs.llm, settings, caller)
    scores = answers.evaluate(judge, embed, found.question, found.answer, contexts)
    claims = scores["faithfulness"].details.get("supported", [])
    measured = {name: s.value for name, s in scores.items() if s.value is not None}
    # Context recall needs a reference answer, which a live turn has none of: not a failure.
    missing = sorted({s.reason for name, s in scores.items() if s.value is None and s.reason != "no_reference"})
    status = "done" if "faithfulness" in measured else "failed"
    stubs.conversation.RecordEvaluation(conv_pb.RecordEvaluationRequest(
        message_id=message_id, scores=conv_pb.EvaluationScores(**measured), judge_model=judge.model, status=status,
        error=",".join(missing), claims=len(claims), supported_claims=sum(claims)), timeout=settings.rag_timeout_seconds)
    model = f"{found.provider}:{found.model}"
    for name, value in measured.items():
        EVALUATION_SCORE.labels(name, found.tenant_id, model).observe(value)
    EVALUATIONS.labels(status).inc()
    log.info("answer evaluated", extra={"message_id": message_id, "status": status, "missing": ",".join(missing),
                                        **{name: round(v, 3) for name, v in measured.items()}})
    return status


def _passage(rag, caller: common_pb2.Caller, citation: common_pb2.Citation, settings: IngestSettings) -> str:
    """The cited passage whole, read as its owner may; the stored snippet if it is gone."""
    try:
        chunk = rag.GetChunk(rag_pb2.GetChunkRequest(caller=caller, document_id=citation.document_id, chunk_id=citation.chunk_id),
                             timeout=settings.rag_timeout_seconds)
        return chunk.text
    except grpc.RpcError:
        return citation.snippet
