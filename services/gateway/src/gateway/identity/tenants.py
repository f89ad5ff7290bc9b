"""Each tenant's policy (prompt-injection handling, token limits), cached per replica like
account state: a change through this replica applies at once, elsewhere within the recheck."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from gateway.models import Tenant


@dataclass(frozen=True)
class TenantPolicy:
    tenant_id: str
    injection_policy: str = "block"  # block | flag | allow
    tokens_per_minute: int = 0  # 0: the platform default; -1: unlimited
    daily_token_budget: int = 0
    monthly_token_budget: int = 0


class TenantPolicies:
    def __init__(self, sessions: async_sessionmaker, recheck_seconds: float = 2.0) -> None:
        self.sessions = sessions
        self.recheck = recheck_seconds
        self._cache: dict[str, tuple[TenantPolicy, float]] = {}

    def invalidate(self, tenant_id: str) -> None:
        self._cache.pop(tenant_id, None)

    async def get(self, tenant_id: str) -> TenantPolicy:
        now = time.monotonic()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[1] < self.recheck:
            return cached[0]
        async with self.sessions() as session:
            tenant = await session.get(Tenant, tenant_id)
        policy = TenantPolicy(tenant_id) if tenant is None else TenantPolicy(
            tenant_id, tenant.injection_policy, tenant.tokens_per_minute, tenant.daily_token_budget, tenant.monthly_token_budget,
        )
        self._cache[tenant_id] = (policy, now)
        return policy
