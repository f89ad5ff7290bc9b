"""API keys (the `api_keys` table): minted, listed, revoked and removed here; checked per
request by `accounts.Accounts.from_api_key`, which also owns the key's format."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot_common.db import utcnow
from gateway.identity.accounts import new_api_key
from gateway.models import ApiKey


def create(session: AsyncSession, *, tenant_id: str, user_id: str, created_by: str, name: str, scopes: list[str],
           expires_at: datetime) -> tuple[ApiKey, str]:
    """The key in the session's transaction, and the key itself (shown once: only its hash is kept)."""
    key_id, raw, digest = new_api_key()
    key = ApiKey(id=key_id, tenant_id=tenant_id, user_id=user_id, created_by=created_by, name=name,
                 secret_sha256=digest, scopes=scopes, expires_at=expires_at, created_at=utcnow())
    session.add(key)
    return key, raw


async def get(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def of_tenant(session: AsyncSession, tenant_id: str) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at))).all())


async def of_user(session: AsyncSession, user_id: str) -> list[ApiKey]:
    return list(await session.scalars(select(ApiKey).where(ApiKey.user_id == user_id)))


def revoke(key: ApiKey) -> bool:
    """False when it was revoked already."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    return True


async def remove_of_user(session: AsyncSession, user_id: str) -> int:
    return (await session.execute(delete(ApiKey).where(ApiKey.user_id == user_id))).rowcount
