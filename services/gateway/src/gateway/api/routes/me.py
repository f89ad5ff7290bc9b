"""The caller's own account."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from starlette.background import BackgroundTask

from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.api.deps import LimitsDep, PasswordsDep, PrincipalDep, SessionDep
from gateway.models import Tenant, User
from gateway.privacy import erase_user, export_user
from gateway.security import Principal

router = APIRouter(prefix="/me", tags=["me"])


class MeOut(BaseModel):
    id: str
    email: str
    tenant_id: str
    tenant_name: str
    role: str
    permissions: list[str]
    api_key_id: str | None


@router.get("", response_model=MeOut, summary="Who you are, in which organisation, allowed to do what")
async def me(principal: PrincipalDep, session: SessionDep) -> MeOut:
    user = await session.get(User, principal.user_id)
    if user is None:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account not found")
    tenant = await session.get(Tenant, user.tenant_id)
    return MeOut(id=user.id, email=user.email, tenant_id=user.tenant_id, tenant_name=tenant.name if tenant else user.tenant_id,
                 role=principal.role, permissions=sorted(principal.permissions), api_key_id=principal.key_id or None)


class LimitUsage(BaseModel):
    used: int
    limit: int


class UsageOut(BaseModel):
    limits: dict[str, LimitUsage]


@router.get("/usage", response_model=UsageOut, summary="Tokens used against each limit that applies to you")
async def usage(principal: PrincipalDep, limits: LimitsDep) -> UsageOut:
    return UsageOut(limits={name: LimitUsage(**v) for name, v in (await limits.usage(principal)).items()})


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(None, min_length=1, max_length=256,
                                 description="your password, to confirm (accounts of an external identity provider need none)")


class ErasureReport(BaseModel):
    user_id: str
    removed: dict[str, dict]


def export_response(path: Path, user_id: str) -> FileResponse:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return FileResponse(path, media_type="application/zip", filename=f"export-{user_id}-{stamp}.zip",
                        background=BackgroundTask(path.unlink, missing_ok=True))


async def export_as(request: Request, actor: Principal, user: User) -> FileResponse:
    path = await export_user(request.app, user)
    await audit.write(request.app.state.sessions, audit.by(actor, "user.export", request, target_type="user", target_id=user.id,
                                                           details={"bytes": path.stat().st_size}))
    return export_response(path, user.id)


async def erase_as(request: Request, actor: Principal, user_id: str) -> ErasureReport:
    removed = await erase_user(request.app, user_id)
    if not removed:
        raise AppError(ErrorCode.NOT_FOUND, "user not found")
    await audit.write(request.app.state.sessions, audit.by(actor, "user.erase", request, target_type="user", target_id=user_id,
                                                           details={k: v for k, v in removed.items() if k != "audit_log"}))
    return ErasureReport(user_id=user_id, removed=removed)


async def ensure_not_last_admin(session, user: User) -> None:
    if user.role != "admin":
        return
    admins = await session.scalar(select(func.count()).select_from(User).where(
        User.tenant_id == user.tenant_id, User.role == "admin", User.is_active.is_(True), User.id != user.id))
    others = await session.scalar(select(func.count()).select_from(User).where(User.tenant_id == user.tenant_id, User.id != user.id))
    if others and not admins:
        raise AppError(ErrorCode.CONFLICT, "the organisation's last admin cannot be erased while it has other users; appoint another admin first")


def _session_only(principal: Principal) -> None:
    if principal.key_id:
        raise AppError(ErrorCode.PERMISSION_DENIED, "sign in to export or erase your data; an API key cannot")


@router.get("/export", response_class=FileResponse, summary="All your data as one ZIP: profile, conversations, documents and their files, usage, keys, activity",
            responses={200: {"content": {"application/zip": {}}}})
async def export_me(request: Request, principal: PrincipalDep, session: SessionDep) -> FileResponse:
    _session_only(principal)
    user = await session.get(User, principal.user_id)
    if user is None:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account not found")
    return await export_as(request, principal, user)


@router.delete("", response_model=ErasureReport, summary="Erase your account and all its data from every store")
async def erase_me(body: EraseIn, request: Request, principal: PrincipalDep, session: SessionDep,
                   passwords: PasswordsDep) -> ErasureReport:
    _session_only(principal)
    user = await session.get(User, principal.user_id)
    if user is None:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account not found")
    await session.close()  # no connection held while the password is hashed
    if user.external_subject is None and not (body.password and await passwords.verify(user.password_hash, body.password)):
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "password is wrong")
    await ensure_not_last_admin(session, user)
    await session.close()
    return await erase_as(request, principal, user.id)
