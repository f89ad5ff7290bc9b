"""Usage and cost reports from the conversation service's usage ledger, which outlives the
messages: a user's erasure (or the retention purge) leaves the organisation's totals unchanged,
and the organisation's report names no user.

GET /api/v1/usage: one's own model calls per day, model and kind (chat: answers, chat turns and /v1
calls; summary and title: background work on one's conversations), tokens and cost.
GET /api/v1/admin/usage: the admin's organisation, with the token budgets beside it; `format=csv`
exports the rows as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from gateway.api.deps import Admin, DownstreamDep, LimitsDep, PrincipalDep, SettingsDep, caller_pb
from gateway.api.schemas.usage import BudgetUse, OwnUsageOut, TenantUsageOut, totals_by_kind, totals_of, usage_csv, usage_days

router = APIRouter(tags=["usage"])
MAX_DAYS = 366

Since = Annotated[date | None, Query(description="first day (UTC); default 30 days before `until`")]
Until = Annotated[date | None, Query(description="last day (UTC), included; default today")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: the rows as a CSV file (cost_usd empty when unknown)")]


def _window(since: date | None, until: date | None) -> tuple[date, date]:
    until = until or datetime.now(UTC).date()
    since = since or (until - timedelta(days=29) if until > date.min + timedelta(days=29) else date.min)
    if until < since:
        raise AppError(ErrorCode.VALIDATION_ERROR, "until is before since", {"field": "until"})
    if (until - since).days >= MAX_DAYS:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"at most {MAX_DAYS} days at once", {"field": "since", "limit": MAX_DAYS})
    return since, until


def _csv(days, name: str) -> Response:
    return Response(usage_csv(days), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/usage", response_model=OwnUsageOut, summary="Your own usage and cost per day and model")
async def own_usage(principal: PrincipalDep, settings: SettingsDep, downstream: DownstreamDep, since: Since = None, until: Until = None,
                    format: Format = "json"):
    since, until = _window(since, until)
    reply = await downstream.conversation.UserUsage(
        pb.TenantUsageRequest(caller=caller_pb(principal), since=since.isoformat(), until=until.isoformat()),
        timeout=settings.call_timeout_seconds)
    days = usage_days(reply)
    if format == "csv":
        return _csv(days, f"usage-{since}-{until}.csv")
    return OwnUsageOut(since=since, until=until, totals=totals_of(days), by_kind=totals_by_kind(days), days=days)


@router.get("/admin/usage", response_model=TenantUsageOut,
            summary="Your organisation's usage and cost per day and model (erased users' included, unnamed); CSV with format=csv")
async def tenant_usage(principal: Admin, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep, since: Since = None,
                       until: Until = None, format: Format = "json"):
    since, until = _window(since, until)
    reply = await downstream.conversation.TenantUsage(
        pb.TenantUsageRequest(caller=caller_pb(principal), since=since.isoformat(), until=until.isoformat()),
        timeout=settings.call_timeout_seconds)
    days = usage_days(reply)
    if format == "csv":
        return _csv(days, f"usage-{principal.tenant_id}-{since}-{until}.csv")
    budgets = {name: BudgetUse(**value) for name, value in (await limits.usage(principal)).items() if name.startswith("tenant ")}
    return TenantUsageOut(tenant_id=principal.tenant_id, since=since, until=until, totals=totals_of(days), by_kind=totals_by_kind(days),
                          days=days, budgets=budgets)
