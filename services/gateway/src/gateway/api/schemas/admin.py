"""Tenant administration's shapes: users, API keys, the tenant's policy and its audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from chatbot_common.db import utcnow
from chatbot_common.ids import id_pattern
from gateway.api.schemas.auth import UserOut
from gateway.api.schemas.common import Pagination
from gateway.identity.roles import Role, Scope
from gateway.models import ApiKey, AuditEvent, Tenant

MAX_TOKENS = 10**15  # far above any budget, well inside a 64-bit column
InjectionPolicy = Literal["block", "flag", "allow"]


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
    injection_policy: InjectionPolicy
    tokens_per_minute: int
    daily_token_budget: int
    monthly_token_budget: int
    semantic_cache: bool = Field(description="false: no answer comes from the semantic cache and none is kept in it")
    user_count: int


class TenantChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    injection_policy: InjectionPolicy | None = None
    tokens_per_minute: int | None = Field(None, ge=-1, le=MAX_TOKENS, description="-1 unlimited, 0 the platform default")
    daily_token_budget: int | None = Field(None, ge=-1, le=MAX_TOKENS)
    monthly_token_budget: int | None = Field(None, ge=-1, le=MAX_TOKENS)
    semantic_cache: bool | None = Field(None, description="false turns the semantic cache off for the whole organisation")


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


def _key_fields(key: ApiKey) -> dict:
    return dict(id=key.id, name=key.name, scopes=list(key.scopes), user_id=key.user_id, created_by=key.created_by,
                expires_at=key.expires_at, revoked_at=key.revoked_at, last_used_at=key.last_used_at, created_at=key.created_at)


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(**_key_fields(key))


def created_key(key: ApiKey, raw: str) -> CreatedKey:
    return CreatedKey(key=raw, **_key_fields(key))


def tenant_out(tenant: Tenant, user_count: int) -> TenantOut:
    return TenantOut(id=tenant.id, name=tenant.name, injection_policy=tenant.injection_policy, tokens_per_minute=tenant.tokens_per_minute,
                     daily_token_budget=tenant.daily_token_budget, monthly_token_budget=tenant.monthly_token_budget,
                     semantic_cache=tenant.semantic_cache, user_count=user_count)


def audit_out(e: AuditEvent) -> AuditOut:
    return AuditOut(id=e.id, created_at=e.created_at, actor_id=e.actor_id, actor_kind=e.actor_kind, action=e.action,
                    target_type=e.target_type, target_id=e.target_id, outcome=e.outcome, client_ip=e.client_ip,
                    request_id=e.request_id, details=e.details or {})
