"""The caller's own account: who they are, their usage, their data (`gateway.privacy`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from gateway.api.deps import LimitsDep, PrincipalDep, PrivacyDep, SessionDep
from gateway.api.responses import export_download
from gateway.api.schemas.me import EraseIn, ErasureReport, LimitUsage, MeOut, UsageOut
from gateway.identity import users

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=MeOut, summary="Who you are, in which organisation, allowed to do what")
async def me(principal: PrincipalDep, session: SessionDep) -> MeOut:
    user, tenant_name = await users.profile(session, principal.user_id)
    return MeOut(id=user.id, email=user.email, tenant_id=user.tenant_id, tenant_name=tenant_name,
                 role=principal.role, permissions=sorted(principal.permissions), api_key_id=principal.key_id or None)


@router.get("/usage", response_model=UsageOut, summary="Tokens used against each limit that applies to you")
async def usage(principal: PrincipalDep, limits: LimitsDep) -> UsageOut:
    return UsageOut(limits={name: LimitUsage(**v) for name, v in (await limits.usage(principal)).items()})


@router.get("/export", response_class=FileResponse, summary="All your data as one ZIP: profile, conversations, documents and their files, usage, keys, activity",
            responses={200: {"content": {"application/zip": {}}}})
async def export_me(request: Request, principal: PrincipalDep, privacy: PrivacyDep) -> FileResponse:
    return export_download(await privacy.export_own(principal, request), principal.user_id)


@router.delete("", response_model=ErasureReport, summary="Erase your account and all its data from every store")
async def erase_me(body: EraseIn, request: Request, principal: PrincipalDep, privacy: PrivacyDep) -> ErasureReport:
    return ErasureReport(user_id=principal.user_id, removed=await privacy.erase_own(principal, body.password, request))
