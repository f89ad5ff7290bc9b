"""Online evaluation for tenant admins: the share of the organisation's grounded answers judged in
the background, and the judged answers with their scores and the people's ratings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.timeutil import to_timestamp
from gateway import audit
from gateway.api.deps import Admin, DownstreamDep, SessionsDep, SettingsDep, caller_pb
from gateway.api.schemas.evaluations import EvaluationList, EvaluationPolicyIn, EvaluationPolicyOut, evaluation_list

router = APIRouter(tags=["evaluations"])


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # no offset means UTC


@router.get("/admin/evaluations", response_model=EvaluationList,
            summary="Your organisation's judged answers, newest first: scores beside the person's rating")
async def list_evaluations(
    principal: Admin, settings: SettingsDep, downstream: DownstreamDep,
    model: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_.:/@-]+$")] = None,
    feedback: Annotated[Literal["up", "down", "none"] | None, Query(description="the person's rating")] = None,
    status: Annotated[Literal["done", "failed"] | None, Query()] = None,
    max_faithfulness: Annotated[float | None, Query(ge=0.0, le=1.0, description="only answers at or under this faithfulness")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> EvaluationList:
    request = pb.ListEvaluationsRequest(caller=caller_pb(principal), page={"limit": limit, "offset": offset}, model=model or "",
                                        rating=feedback or "", status=status or "")
    if since is not None:
        request.since.CopyFrom(to_timestamp(_utc(since)))
    if until is not None:
        request.until.CopyFrom(to_timestamp(_utc(until)))
    if max_faithfulness is not None:
        request.max_faithfulness = max_faithfulness
    return evaluation_list(await downstream.conversation.ListEvaluations(request, timeout=settings.call_timeout_seconds))


@router.get("/admin/evaluation-policy", response_model=EvaluationPolicyOut,
            summary="The share of your organisation's grounded answers judged in the background")
async def get_policy(principal: Admin, settings: SettingsDep, downstream: DownstreamDep) -> EvaluationPolicyOut:
    reply = await downstream.conversation.GetTenantEvaluationPolicy(pb.GetTenantEvaluationPolicyRequest(caller=caller_pb(principal)),
                                                                    timeout=settings.call_timeout_seconds)
    return EvaluationPolicyOut(share=reply.share)


@router.put("/admin/evaluation-policy", response_model=EvaluationPolicyOut,
            summary="Judge this share of your organisation's grounded answers in the background (0: off)")
async def set_policy(body: EvaluationPolicyIn, request: Request, principal: Admin, settings: SettingsDep, downstream: DownstreamDep,
                     sessions: SessionsDep) -> EvaluationPolicyOut:
    reply = await downstream.conversation.SetTenantEvaluationPolicy(pb.TenantEvaluationPolicy(caller=caller_pb(principal), share=body.share),
                                                                    timeout=settings.call_timeout_seconds)
    await audit.write(sessions, audit.by(principal, "tenant.evaluation_policy", request, target_type="tenant",
                                         target_id=principal.tenant_id, details={"share": body.share}))
    return EvaluationPolicyOut(share=reply.share)
