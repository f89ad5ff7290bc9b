"""Organisations (the `tenants` table) and each one's policy (prompt-injection handling, token
limits, the semantic cache), cached per replica like account state: a change through this replica applies at once,
elsewhere within the recheck."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.db import utcnow
from gateway.models import Tenant


@dataclass(frozen=True)
class TenantPolicy:
    tenant_id: str
    injection_policy: str = "block"  # block | flag | allow
    tokens_per_minute: int = 0  # 0: the platform default; -1: unlimited
    daily_token_budget: int = 0
    monthly_token_budget: int = 0
    semantic_cache: bool = True  # False: the tenant's requests neither use nor fill the semantic cache


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
            tenant = await load(session, tenant_id)
        policy = TenantPolicy(tenant_id) if tenant is None else TenantPolicy(
            tenant_id, tenant.injection_policy, tenant.tokens_per_minute, tenant.daily_token_budget, tenant.monthly_token_budget,
            tenant.semantic_cache,
        )
        self._cache[tenant_id] = (policy, now)
        return policy


def _tenant_id(name: str, random_bytes: int = 4) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "org"
    return f"{slug}-{secrets.token_hex(random_bytes)}"


def create(session: AsyncSession, name: str | None) -> Tenant:
    """A new organisation in the session's transaction: the named one, or a personal one."""
    if name:
        tenant = Tenant(id=_tenant_id(name), name=name.strip(), created_at=utcnow())
    else:
        # Never a shared default tenant: anyone could sign up into it and read what its members
        # share with the tenant. A personal organisation is private until its admin adds people.
        tenant = Tenant(id=_tenant_id("personal", 8), name="Personal", created_at=utcnow())
    session.add(tenant)
    return tenant


async def load(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


def change(tenant: Tenant, changes: dict[str, Any]) -> dict[str, Any]:
    """Applies the changes to the loaded tenant; returns the values they replace."""
    before = {name: getattr(tenant, name) for name in changes}
    for name, value in changes.items():
        setattr(tenant, name, value)
    return before
