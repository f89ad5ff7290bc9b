"""Tenant administration (the `admin` permission): users and roles, API keys, the tenant's
policy and budgets, and its audit log (the rules are in `gateway.administration`), and the data
of a user of the organisation (`gateway.privacy`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import FileResponse

from chatbot_common.ids import id_pattern
from gateway import administration
from gateway.api.deps import AccountsDep, Admin, PasswordsDep, PrivacyDep, SessionDep, SettingsDep, TenantsDep
from gateway.api.responses import export_download
from gateway.api.schemas.admin import (
    AuditList, CreatedKey, KeyList, NewKey, NewUser, TenantChange, TenantOut, UserChange, UserList, audit_out, created_key,
    key_out, tenant_out,
)
from gateway.api.schemas.auth import UserOut, user_out
from gateway.api.schemas.common import page_of
from gateway.api.schemas.me import ErasureReport

router = APIRouter(prefix="/admin", tags=["admin"])

UserId = Annotated[str, Path(pattern=id_pattern("usr"))]
KeyId = Annotated[str, Path(pattern=id_pattern("key"))]


@router.get("/users", response_model=UserList)
async def list_users(
    principal: Admin, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserList:
    total, rows = await administration.list_users(session, principal, limit, offset)
    return UserList(users=[user_out(u) for u in rows], pagination=page_of(total, limit, offset, len(rows)))


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserOut, summary="Add a user to your organisation")
async def add_user(body: NewUser, request: Request, principal: Admin, session: SessionDep, settings: SettingsDep,
                   passwords: PasswordsDep) -> UserOut:
    user = await administration.add_user(session, passwords, principal, email=body.email, password=body.password, role=body.role,
                                         min_length=settings.password_min_length, request=request)
    return user_out(user)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change a user's role, or disable/enable the account")
async def change_user(
    user_id: UserId, body: UserChange, request: Request, principal: Admin, session: SessionDep, accounts: AccountsDep,
) -> UserOut:
    user = await administration.change_user(session, accounts, principal, user_id, role=body.role, is_active=body.is_active,
                                            request=request)
    return user_out(user)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=CreatedKey,
             summary="Create an API key (the key is in this response only)")
async def create_key(body: NewKey, request: Request, principal: Admin, session: SessionDep) -> CreatedKey:
    key, raw = await administration.create_key(session, principal, name=body.name, scopes=list(body.scopes),
                                               expires_at=body.expiry(), user_id=body.user_id, request=request)
    return created_key(key, raw)


@router.get("/api-keys", response_model=KeyList)
async def list_keys(principal: Admin, session: SessionDep) -> KeyList:
    return KeyList(keys=[key_out(k) for k in await administration.list_keys(session, principal)])


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, summary="Revoke an API key")
async def revoke_key(key_id: KeyId, request: Request, principal: Admin, session: SessionDep, accounts: AccountsDep) -> Response:
    await administration.revoke_key(session, accounts, principal, key_id, request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tenant", response_model=TenantOut, summary="Your organisation's policy and budgets")
async def get_tenant(principal: Admin, session: SessionDep) -> TenantOut:
    return tenant_out(*await administration.tenant(session, principal))


@router.patch("/tenant", response_model=TenantOut, summary="Change your organisation's policy and budgets")
async def change_tenant(body: TenantChange, request: Request, principal: Admin, session: SessionDep,
                        policies: TenantsDep) -> TenantOut:
    return tenant_out(*await administration.change_tenant(session, policies, principal, body.model_dump(exclude_none=True), request))


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
    total, rows = await administration.audit_log(session, principal, action=action, actor_id=actor_id, outcome=outcome,
                                                 since=since, until=until, limit=limit, offset=offset)
    return AuditList(events=[audit_out(e) for e in rows], pagination=page_of(total, limit, offset, len(rows)))


@router.get("/users/{user_id}/export", response_class=FileResponse, responses={200: {"content": {"application/zip": {}}}},
            summary="All data of a user of your organisation as one ZIP")
async def export_user_data(user_id: UserId, request: Request, principal: Admin, privacy: PrivacyDep) -> FileResponse:
    return export_download(await privacy.export_member(principal, user_id, request), user_id)


@router.delete("/users/{user_id}", response_model=ErasureReport, summary="Erase a user of your organisation from every store")
async def erase_user_data(user_id: UserId, request: Request, principal: Admin, privacy: PrivacyDep) -> ErasureReport:
    return ErasureReport(user_id=user_id, removed=await privacy.erase_member(principal, user_id, request))
