"""GET /api/v1/admin/usage: what the admin's organisation used, per day, provider and model.

The figures come from the conversation service's usage ledger, which outlives the messages: a
user's erasure (or the retention purge) leaves the organisation's totals unchanged, and the
report names no user. The token budgets (which /v1 calls charge too) are shown beside them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from gateway.api.deps import Admin, DownstreamDep, LimitsDep, SettingsDep, caller_pb
from gateway.api.schemas.usage import BudgetUse, TenantUsageOut, totals_of, usage_days

router = APIRouter(prefix="/admin", tags=["admin"])
MAX_DAYS = 366


@router.get("/usage", response_model=TenantUsageOut, summary="Your organisation's usage per day and model (erased users' included, unnamed)")
async def tenant_usage(
    principal: Admin, settings: SettingsDep, downstream: DownstreamDep, limits: LimitsDep,
    since: Annotated[date | None, Query(description="first day (UTC); default 30 days before `until`")] = None,
    until: Annotated[date | None, Query(description="last day (UTC), included; default today")] = None,
) -> TenantUsageOut:
    until = until or datetime.now(UTC).date()
    since = since or (until - timedelta(days=29) if until > date.min + timedelta(days=29) else date.min)
    if until < since:
        raise AppError(ErrorCode.VALIDATION_ERROR, "until is before since", {"field": "until"})
    if (until - since).days >= MAX_DAYS:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"at most {MAX_DAYS} days at once", {"field": "since", "limit": MAX_DAYS})
    reply = await downstream.conversation.TenantUsage(
        pb.TenantUsageRequest(caller=caller_pb(principal), since=since.isoformat(), until=until.isoformat()),
        timeout=settings.call_timeout_seconds)
    days = usage_days(reply)
    budgets = {name: BudgetUse(**value) for name, value in (await limits.usage(principal)).items() if name.startswith("tenant ")}
    return TenantUsageOut(tenant_id=principal.tenant_id, since=since, until=until, totals=totals_of(days), days=days, budgets=budgets)
