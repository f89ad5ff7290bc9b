"""How much of a caller's tightest token budget is left, what a routing alias reads (the real
schema, the in-process limit store): none without a budget; the smallest share among the user's
and the tenant's daily and monthly budgets, the tenant's own values winning; tokens per minute
are a rate, not a budget."""

from __future__ import annotations

import pytest

from gateway import administration
from gateway.identity import roles, users
from gateway.identity.tenants import TenantPolicies
from gateway.limits.backends import MemoryStore
from gateway.limits.limiter import Limits, begin_turn
from gateway.security import Principal
from gateway.settings import GatewaySettings


@pytest.fixture
async def admin(sessions, passwords, origin) -> Principal:
    async with sessions() as session:
        user = await users.register(session, passwords, email="admin@acme.example", password="correct horse battery",
                                    organization="Acme", open_signup=True, min_length=8, request=origin)
    return Principal(user.id, user.tenant_id, "admin", roles.role_permissions("admin"))


def limits(sessions, tmp_path, **values) -> tuple[Limits, TenantPolicies]:
    policies = TenantPolicies(sessions)
    settings = GatewaySettings(var_dir=tmp_path, **values)
    return Limits(settings, MemoryStore(), policies), policies


async def spend(limits: Limits, who: Principal, tokens: int) -> None:
    guard = await begin_turn(limits, who, 0, 1, stream=False)
    await guard.finish(tokens)


async def test_no_budget_no_share(sessions, tmp_path, admin):
    unlimited, _ = limits(sessions, tmp_path, user_tokens_per_minute=100)
    await spend(unlimited, admin, 90)  # 90 of the user's 100 tokens per minute: a rate, not a budget
    assert await unlimited.budget_left(admin) is None
    assert (await begin_turn(unlimited, admin, 0, 1, stream=False)).budget_left is None


async def test_the_tightest_budget_decides(sessions, tmp_path, admin, origin):
    budgeted, policies = limits(sessions, tmp_path, user_monthly_token_budget=10_000)
    assert await budgeted.budget_left(admin) == 1.0
    await spend(budgeted, admin, 2_000)
    assert await budgeted.budget_left(admin) == pytest.approx(0.8)
    # The organisation's admin sets a daily budget of its own: it is now the tightest.
    async with sessions() as session:
        await administration.change_tenant(session, policies, admin, {"daily_token_budget": 1_000}, origin)
    # The day's counter starts with the budget: the user's month is still the tightest.
    assert await budgeted.budget_left(admin) == pytest.approx(0.8)
    await spend(budgeted, admin, 950)
    assert await budgeted.budget_left(admin) == pytest.approx(0.05)
    # What the guard of the next turn says is the share before that turn.
    guard = await begin_turn(budgeted, admin, 0, 10, stream=False)
    assert guard.budget_left == pytest.approx(0.05)
    await guard.finish(60)  # over the budget: nothing left, never below zero
    assert await budgeted.budget_left(admin) == 0.0
