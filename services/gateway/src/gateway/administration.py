"""Tenant administration (what the `admin` permission allows): the organisation's users and
their roles, invitations, API keys, the tenant's policy and budgets, and its audit log.

Everything is confined to the admin's own tenant: an id from another tenant is answered exactly
like an id that does not exist. Each change is audited in the transaction that makes it, and the
per-replica caches that hold what changed (account state, tenant policy) are told at once.
Queries belong to the modules that own the tables (`identity.*`, `audit`); this module decides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.identity import api_keys, invitations, tenants, users
from gateway.identity.accounts import Accounts
from gateway.identity.sessions import end_sessions
from gateway.identity.tenants import TenantPolicies
from gateway.models import ApiKey, AuditEvent, Invitation, Tenant, User
from gateway.security import PasswordHashing, Principal


async def list_users(session: AsyncSession, admin: Principal, limit: int, offset: int) -> tuple[int, list[User]]:
    return await users.page(session, admin.tenant_id, limit, offset)


async def add_user(session: AsyncSession, passwords: PasswordHashing, admin: Principal, *, email: str, password: str, role: str,
                   min_length: int, request: audit.Origin) -> User:
    users.check_password_policy(password, min_length)
    password_hash = await passwords.hash(password)  # before the session takes a connection
    user = await users.create(session, email, password_hash, admin.tenant_id, role)
    audit.add(session, audit.by(admin, "user.create", request, target_type="user", target_id=user.id, details={"role": role}))
    await session.commit()
    return user


async def change_user(session: AsyncSession, accounts: Accounts, admin: Principal, user_id: str, *, role: str | None,
                      is_active: bool | None, request: audit.Origin) -> User:
    """A new role, or the account disabled (every session ends) or enabled again."""
    user = await users.in_tenant(session, admin.tenant_id, user_id)
    demoted = role is not None and role != "admin" and user.role == "admin"
    disabled = is_active is False and user.is_active
    if (demoted or disabled) and user.role == "admin" and await users.active_admins(session, admin.tenant_id) <= 1:
        raise AppError(ErrorCode.CONFLICT, "the organisation's last admin cannot be demoted or disabled")
    if role is not None and role != user.role:
        audit.add(session, audit.by(admin, "user.role_change", request, target_type="user", target_id=user.id,
                                    details={"from": user.role, "to": role}))
        user.role = role
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            await end_sessions(session, user.id)
        audit.add(session, audit.by(admin, "user.enable" if is_active else "user.disable", request,
                                    target_type="user", target_id=user.id))
    if demoted or disabled:  # their open invitations spoke for an admin who no longer is one
        for invitation_id in await invitations.revoke_created_by(session, user.id):
            audit.add(session, audit.by(admin, "invitation.revoke", request, target_type="invitation", target_id=invitation_id,
                                        details={"reason": "inviter_demoted" if demoted else "inviter_disabled"}))
    await session.commit()
    await session.refresh(user)
    accounts.invalidate(user.id)
    return user


async def invite(session: AsyncSession, admin: Principal, *, email: str, role: str, expires_at: datetime,
                 request: audit.Origin) -> tuple[Invitation, str]:
    """An invitation into the admin's organisation, and its token (in this answer only)."""
    invitation, token = await invitations.create(session, tenant_id=admin.tenant_id, email=email, role=role,
                                                 created_by=admin.user_id, expires_at=expires_at)
    # The audit log names people by id only: the invited address is kept as a short hash.
    audit.add(session, audit.by(admin, "invitation.create", request, target_type="invitation", target_id=invitation.id,
                                details={"role": role, "subject": audit.subject_hash(email),
                                         "expires_at": invitation.expires_at.isoformat()}))
    await session.commit()
    return invitation, token


async def list_invitations(session: AsyncSession, admin: Principal, state: invitations.State | None, limit: int,
                           offset: int) -> tuple[int, list[Invitation]]:
    return await invitations.page(session, admin.tenant_id, state, limit, offset)


async def revoke_invitation(session: AsyncSession, admin: Principal, invitation_id: str, request: audit.Origin) -> Invitation:
    """The link stops working at once (revoking twice changes nothing)."""
    invitation = await invitations.in_tenant(session, admin.tenant_id, invitation_id)
    if invitations.revoke(invitation):
        audit.add(session, audit.by(admin, "invitation.revoke", request, target_type="invitation", target_id=invitation.id))
        await session.commit()
        await session.refresh(invitation)
    return invitation


async def create_key(session: AsyncSession, admin: Principal, *, name: str, scopes: list[str], expires_at: datetime,
                     user_id: str | None, request: audit.Origin) -> tuple[ApiKey, str]:
    """A key acting for `user_id` (default: the admin), and the key itself, shown this once."""
    owner = await users.in_tenant(session, admin.tenant_id, user_id) if user_id else await users.get(session, admin.user_id)
    if owner is None or not owner.is_active:
        raise AppError(ErrorCode.VALIDATION_ERROR, "the key's account is disabled", {"field": "user_id"})
    scopes = sorted(set(scopes))
    key, raw = api_keys.create(session, tenant_id=admin.tenant_id, user_id=owner.id, created_by=admin.user_id, name=name,
                               scopes=scopes, expires_at=expires_at)
    audit.add(session, audit.by(admin, "api_key.create", request, target_type="api_key", target_id=key.id,
                                details={"scopes": scopes, "for": owner.id, "expires_at": key.expires_at.isoformat()}))
    await session.commit()
    return key, raw


async def list_keys(session: AsyncSession, admin: Principal) -> list[ApiKey]:
    return await api_keys.of_tenant(session, admin.tenant_id)


async def revoke_key(session: AsyncSession, accounts: Accounts, admin: Principal, key_id: str, request: audit.Origin) -> None:
    key = await api_keys.get(session, key_id)
    if key is None or key.tenant_id != admin.tenant_id:
        raise AppError(ErrorCode.NOT_FOUND, "API key not found")
    if api_keys.revoke(key):
        audit.add(session, audit.by(admin, "api_key.revoke", request, target_type="api_key", target_id=key_id))
        await session.commit()
    accounts.invalidate_keys()


async def tenant(session: AsyncSession, admin: Principal) -> tuple[Tenant, int]:
    """The admin's organisation and how many accounts it has."""
    found = await tenants.load(session, admin.tenant_id)
    if found is None:
        raise AppError(ErrorCode.NOT_FOUND, "tenant not found")
    return found, await users.count(session, found.id)


async def change_tenant(session: AsyncSession, policies: TenantPolicies, admin: Principal, changes: dict[str, Any],
                        request: audit.Origin) -> tuple[Tenant, int]:
    """Only the fields given change; nothing given, nothing is written or audited."""
    found = await tenants.load(session, admin.tenant_id)
    if found is None:
        raise AppError(ErrorCode.NOT_FOUND, "tenant not found")
    before = tenants.change(found, changes)
    if changes:
        audit.add(session, audit.by(admin, "tenant.policy_change", request, target_type="tenant", target_id=found.id,
                                    details={"from": before, "to": changes}))
        await session.commit()
        policies.invalidate(found.id)
    return found, await users.count(session, found.id)


def _utc(moment: datetime | None) -> datetime | None:
    """A time without an offset is read as UTC (the log's own zone)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


async def audit_log(session: AsyncSession, admin: Principal, *, action: str | None, actor_id: str | None, outcome: str | None,
                    since: datetime | None, until: datetime | None, limit: int, offset: int) -> tuple[int, list[AuditEvent]]:
    """The organisation's audit entries, newest first."""
    return await audit.search(session, admin.tenant_id, action=action, actor_id=actor_id, outcome=outcome,
                              since=_utc(since), until=_utc(until), limit=limit, offset=offset)
