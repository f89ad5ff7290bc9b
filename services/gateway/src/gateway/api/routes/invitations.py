"""Invitations into an organisation: its admins invite, list and revoke (`gateway.administration`);
the invitee looks at the invitation and accepts it, signed in at once (`gateway.identity.invitations`).
The invitee's routes are limited per client address like sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from chatbot_common.ids import id_pattern
from gateway import administration
from gateway.api import session_cookie
from gateway.api.deps import Admin, IssuerDep, PasswordsDep, SessionDep, SessionsDep, SettingsDep, anonymous_rate_limit
from gateway.api.schemas.auth import AccessToken, TokenPair, access_token, token_pair
from gateway.api.schemas.common import page_of
from gateway.api.schemas.invitations import (
    CreatedInvitation, InvitationAcceptance, InvitationList, InvitationOut, InvitationPreview, InvitationState, InvitationToken,
    NewInvitation, created_invitation, invitation_out,
)
from gateway.identity import invitations

router = APIRouter(tags=["invitations"])

InvitationId = Annotated[str, Path(pattern=id_pattern("inv"))]


@router.post("/admin/invitations", status_code=status.HTTP_201_CREATED, response_model=CreatedInvitation,
             summary="Invite an e-mail address into your organisation with a role (the link is in this response only)")
async def invite(body: NewInvitation, request: Request, principal: Admin, session: SessionDep, settings: SettingsDep) -> CreatedInvitation:
    invitation, token = await administration.invite(session, principal, email=body.email, role=body.role,
                                                    expires_at=body.expiry(settings.invitation_ttl_days), request=request)
    return created_invitation(invitation, token, settings.public_url or str(request.base_url))


@router.get("/admin/invitations", response_model=InvitationList, summary="Your organisation's invitations, newest first")
async def list_invitations(
    principal: Admin, session: SessionDep, state: InvitationState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InvitationList:
    total, rows = await administration.list_invitations(session, principal, state, limit, offset)
    return InvitationList(invitations=[invitation_out(i) for i in rows], pagination=page_of(total, limit, offset, len(rows)))


@router.delete("/admin/invitations/{invitation_id}", response_model=InvitationOut,
               summary="Revoke an invitation: its link stops working (409 once accepted)")
async def revoke(invitation_id: InvitationId, request: Request, principal: Admin, session: SessionDep) -> InvitationOut:
    return invitation_out(await administration.revoke_invitation(session, principal, invitation_id, request))


@router.post("/auth/invitations/inspect", response_model=InvitationPreview, dependencies=[Depends(anonymous_rate_limit)],
             summary="What an invitation's link offers (address, organisation, role), before accepting it")
async def inspect(body: InvitationToken, request: Request, factory: SessionsDep) -> InvitationPreview:
    invitation, organization = await invitations.inspect(factory, body.token, request)
    return InvitationPreview(email=invitation.email, role=invitation.role, organization=organization, expires_at=invitation.expires_at)


@router.post("/auth/invitations/accept", response_model=TokenPair | AccessToken, status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(anonymous_rate_limit)],
             summary="Accept an invitation: the account is created with your name and password, and signed in",
             description="With `X-Auth-Session: cookie` (browsers) the refresh token goes into an httpOnly cookie, as on sign-in.")
async def accept(body: InvitationAcceptance, request: Request, response: Response, factory: SessionsDep, issuer: IssuerDep,
                 passwords: PasswordsDep, settings: SettingsDep) -> TokenPair | AccessToken:
    cookie = session_cookie.wants_cookie(request)
    if cookie:
        session_cookie.check_same_origin(request)  # no other site signs this browser in
    _, tokens = await invitations.accept(factory, passwords, issuer, token=body.token, name=body.name, password=body.password,
                                         min_length=settings.password_min_length, request=request)
    if not cookie:
        return token_pair(tokens)
    session_cookie.set_refresh(response, request, tokens.refresh_token, tokens.refresh_expires_in, settings.hsts)
    return access_token(tokens)
