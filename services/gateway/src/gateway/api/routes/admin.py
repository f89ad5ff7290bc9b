"""Tenant administration (the `admin` permission): users and roles, API keys, the tenant's
policy and budgets, and its audit log. Everything is confined to the admin's own tenant: an id
from another tenant is answered exactly like an id that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from sqlalchemy import func, select

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import id_pattern
from gateway import audit
from gateway.api.deps import AccountsDep, Admin, PasswordsDep, SessionDep, SettingsDep
from gateway.api.routes.auth import UserOut, check_password_policy, create_user, end_sessions, user_out
from gateway.api.routes.conversations import Pagination
from gateway.api.routes.me import ErasureReport, ensure_not_last_admin, erase_as, export_as
from gateway.identity.accounts import new_api_key
from gateway.identity.roles import Role, Scope
from gateway.models import ApiKey, AuditEvent, Tenant, User

router = APIRouter(prefix="/admin", tags=["admin"])

MAX_TOKENS = 10**15  # far above any budget, well inside a 64-bit column
UserId = Annotated[str, Path(pattern=id_pattern("usr"))]
KeyId = Annotated[str, Path(pattern=id_pattern("key"))]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    role: Role = "member"

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = Field(None, description="false disables the account and ends every session")


class UserList(BaseModel):
    users: list[UserOut]
    pagination: Pagination


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1, max_length=4)
    expires_in_days: int = Field(90, ge=1, le=3650)
    expires_at: AwareDatetime | None = Field(
        None, description="when the key stops working, with its UTC offset (instead of expires_in_days): any future moment "
        "up to 3650 days ahead, e.g. minutes for a one-off job")
    user_id: str | None = Field(None, pattern=id_pattern("usr"), description="the account the key acts for (default: you)")

    @model_validator(mode="after")
    def _one_expiry(self) -> NewKey:
        if self.expires_at is not None:
            if "expires_in_days" in self.model_fields_set:
                raise ValueError("give expires_at or expires_in_days, not both")
            now = utcnow()
            if self.expires_at <= now:
                raise ValueError("expires_at must be in the future")
            if self.expires_at > now + timedelta(days=3650):
                raise ValueError("expires_at must be at most 3650 days ahead")
        return self

    def expiry(self) -> datetime:
        return self.expires_at.astimezone(UTC) if self.expires_at is not None else utcnow() + timedelta(days=self.expires_in_days)


class KeyOut(BaseModel):
    id: str
    name: str
    scopes: list[str]
    user_id: str
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class CreatedKey(KeyOut):
    key: str = Field(description="the key itself; shown this once, only its hash is kept")


class KeyList(BaseModel):
    keys: list[KeyOut]


class TenantOut(BaseModel):
    id: str
    name: str
    injection_policy: Literal["block", "flag", "allow"]
    tokens_per_minute: int
    daily_token_budget: int
    monthly_token_budget: int
    user_count: int


class TenantChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    injection_policy: Literal["block", "flag", "allow"] | None = None
    tokens_per_minute: int | None = Field(None, ge=-1, le=MAX_TOKENS, description="-1 unlimited, 0 the platform default")
    daily_token_budget: int | None = Field(None, ge=-1, le=MAX_TOKENS)
    monthly_token_budget: int | None = Field(None, ge=-1, le=MAX_TOKENS)


class AuditOut(BaseModel):
    id: int
    created_at: datetime
    actor_id: str
    actor_kind: str
    action: str
    target_type: str
    target_id: str
    outcome: str
    client_ip: str
    request_id: str
    details: dict


class AuditList(BaseModel):
    events: list[AuditOut]
    pagination: Pagination


def _utc(moment: datetime) -> datetime:
    """A time without an offset is read as UTC (the log's own zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def _tenant_user(session, principal, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != principal.tenant_id:
        raise AppError(ErrorCode.NOT_FOUND, "user not found")
    return user


def key_out(key: ApiKey) -> dict:
    return dict(id=key.id, name=key.name, scopes=list(key.scopes), user_id=key.user_id, created_by=key.created_by,
                expires_at=key.expires_at, revoked_at=key.revoked_at, last_used_at=key.last_used_at, created_at=key.created_at)


@router.get("/users", response_model=UserList)
async def list_users(
    principal: Admin, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserList:
    where = User.tenant_id == principal.tenant_id
    total = await session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows = (await session.scalars(select(User).where(where).order_by(User.created_at, User.id).limit(limit).offset(offset))).all()
    return UserList(users=[user_out(u) for u in rows],
                    pagination=Pagination(total=total, limit=limit, offset=offset, has_more=offset + len(rows) < total))


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserOut, summary="Add a user to your organisation")
async def add_user(body: NewUser, request: Request, principal: Admin, session: SessionDep, settings: SettingsDep,
                   passwords: PasswordsDep) -> UserOut:
    check_password_policy(body.password, settings)
    password_hash = await passwords.hash(body.password)  # before the session takes a connection
    user = await create_user(session, body.email, password_hash, principal.tenant_id, body.role)
    audit.add(session, audit.by(principal, "user.create", request, target_type="user", target_id=user.id, details={"role": body.role}))
    await session.commit()
    return user_out(user)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change a user's role, or disable/enable the account")
async def change_user(
    user_id: UserId, body: UserChange, request: Request, principal: Admin, session: SessionDep, accounts: AccountsDep,
) -> UserOut:
    user = await _tenant_user(session, principal, user_id)
    demoted = body.role is not None and body.role != "admin" and user.role == "admin"
    disabled = body.is_active is False and user.is_active
    if (demoted or disabled) and user.role == "admin":
        admins = await session.scalar(select(func.count()).select_from(User).where(
            User.tenant_id == principal.tenant_id, User.role == "admin", User.is_active.is_(True)))
        if (admins or 0) <= 1:
            raise AppError(ErrorCode.CONFLICT, "the organisation's last admin cannot be demoted or disabled")
    if body.role is not None and body.role != user.role:
        audit.add(session, audit.by(principal, "user.role_change", request, target_type="user", target_id=user.id,
                                    details={"from": user.role, "to": body.role}))
        user.role = body.role
    if body.is_active is not None and body.is_active != user.is_active:
        user.is_active = body.is_active
        if not body.is_active:
            await end_sessions(session, user.id)
        audit.add(session, audit.by(principal, "user.enable" if body.is_active else "user.disable", request,
                                    target_type="user", target_id=user.id))
    await session.commit()
    await session.refresh(user)
    accounts.invalidate(user.id)
    return user_out(user)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=CreatedKey,
             summary="Create an API key (the key is in this response only)")
async def create_key(body: NewKey, request: Request, principal: Admin, session: SessionDep) -> CreatedKey:
    owner = await _tenant_user(session, principal, body.user_id) if body.user_id else await session.get(User, principal.user_id)
    if owner is None or not owner.is_active:
        raise AppError(ErrorCode.VALIDATION_ERROR, "the key's account is disabled", {"field": "user_id"})
    key_id, raw, digest = new_api_key()
    scopes = sorted(set(body.scopes))
    key = ApiKey(id=key_id, tenant_id=principal.tenant_id, user_id=owner.id, created_by=principal.user_id, name=body.name,
                 secret_sha256=digest, scopes=scopes, expires_at=body.expiry(), created_at=utcnow())
    session.add(key)
    audit.add(session, audit.by(principal, "api_key.create", request, target_type="api_key", target_id=key_id,
                                details={"scopes": scopes, "for": owner.id, "expires_at": key.expires_at.isoformat()}))
    await session.commit()
    return CreatedKey(key=raw, **key_out(key))


@router.get("/api-keys", response_model=KeyList)
async def list_keys(principal: Admin, session: SessionDep) -> KeyList:
    rows = (await session.scalars(select(ApiKey).where(ApiKey.tenant_id == principal.tenant_id).order_by(ApiKey.created_at))).all()
    return KeyList(keys=[KeyOut(**key_out(k)) for k in rows])


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, summary="Revoke an API key")
async def revoke_key(key_id: KeyId, request: Request, principal: Admin, session: SessionDep, accounts: AccountsDep) -> Response:
    key = await session.get(ApiKey, key_id)
    if key is None or key.tenant_id != principal.tenant_id:
        raise AppError(ErrorCode.NOT_FOUND, "API key not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.add(session, audit.by(principal, "api_key.revoke", request, target_type="api_key", target_id=key_id))
        await session.commit()
    accounts.invalidate_keys()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _tenant_out(session, tenant: Tenant) -> TenantOut:
    users = await session.scalar(select(func.count()).select_from(User).where(User.tenant_id == tenant.id)) or 0
    return TenantOut(id=tenant.id, name=tenant.name, injection_policy=tenant.injection_policy, tokens_per_minute=tenant.tokens_per_minute,
                     daily_token_budget=tenant.daily_token_budget, monthly_token_budget=tenant.monthly_token_budget, user_count=users)


@router.get("/tenant", response_model=TenantOut, summary="Your organisation's policy and budgets")
async def get_tenant(principal: Admin, session: SessionDep) -> TenantOut:
    tenant = await session.get(Tenant, principal.tenant_id)
    if tenant is None:
        raise AppError(ErrorCode.NOT_FOUND, "tenant not found")
    return await _tenant_out(session, tenant)


@router.patch("/tenant", response_model=TenantOut, summary="Change your organisation's policy and budgets")
async def change_tenant(body: TenantChange, request: Request, principal: Admin, session: SessionDep) -> TenantOut:
    tenant = await session.get(Tenant, principal.tenant_id)
    if tenant is None:
        raise AppError(ErrorCode.NOT_FOUND, "tenant not found")
    changes = body.model_dump(exclude_none=True)
    before = {name: getattr(tenant, name) for name in changes}
    for name, value in changes.items():
        setattr(tenant, name, value)
    if changes:
        audit.add(session, audit.by(principal, "tenant.policy_change", request, target_type="tenant", target_id=tenant.id,
                                    details={"from": before, "to": changes}))
        await session.commit()
        request.app.state.tenants.invalidate(tenant.id)
    return await _tenant_out(session, tenant)


@router.get("/audit", response_model=AuditList, summary="Your organisation's audit log, newest first")
async def audit_log(
    principal: Admin, session: SessionDep,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$")] = None,
    actor_id: Annotated[str | None, Query(max_length=40)] = None,
    outcome: Annotated[Literal["success", "failure", "blocked", "flagged"] | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditList:
    where = [AuditEvent.tenant_id == principal.tenant_id]
    if action:
        where.append(AuditEvent.action == action)
    if actor_id:
        where.append(AuditEvent.actor_id == actor_id)
    if outcome:
        where.append(AuditEvent.outcome == outcome)
    if since:
        where.append(AuditEvent.created_at >= _utc(since))
    if until:
        where.append(AuditEvent.created_at < _utc(until))
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    rows = (await session.scalars(
        select(AuditEvent).where(*where).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    )).all()
    return AuditList(
        events=[AuditOut(id=e.id, created_at=e.created_at, actor_id=e.actor_id, actor_kind=e.actor_kind, action=e.action,
                         target_type=e.target_type, target_id=e.target_id, outcome=e.outcome, client_ip=e.client_ip,
                         request_id=e.request_id, details=e.details or {}) for e in rows],
        pagination=Pagination(total=total, limit=limit, offset=offset, has_more=offset + len(rows) < total),
    )


@router.get("/users/{user_id}/export", response_class=FileResponse, responses={200: {"content": {"application/zip": {}}}},
            summary="All data of a user of your organisation as one ZIP")
async def export_user_data(user_id: UserId, request: Request, principal: Admin, session: SessionDep) -> FileResponse:
    user = await _tenant_user(session, principal, user_id)
    return await export_as(request, principal, user)


@router.delete("/users/{user_id}", response_model=ErasureReport, summary="Erase a user of your organisation from every store")
async def erase_user_data(user_id: UserId, request: Request, principal: Admin, session: SessionDep) -> ErasureReport:
    user = await _tenant_user(session, principal, user_id)
    await ensure_not_last_admin(session, user)
    await session.close()
    return await erase_as(request, principal, user_id)
