"""Sign-up, sign-in, refresh-token rotation, logout and password change (the rules are in
`gateway.identity.users` and `gateway.identity.sessions`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from gateway.api.deps import (
    AccountsDep, anonymous_rate_limit, IssuerDep, LimitsDep, PasswordsDep, PrincipalDep, SessionDep, SessionsDep, SettingsDep,
)
from gateway.api.schemas.auth import Credentials, PasswordChange, RefreshIn, Registration, TokenPair, UserOut, token_pair, user_out
from gateway.identity import sessions, users

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", dependencies=[Depends(anonymous_rate_limit)], status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: Registration, request: Request, session: SessionDep, settings: SettingsDep,
                   passwords: PasswordsDep) -> UserOut:
    user = await users.register(session, passwords, email=body.email, password=body.password, organization=body.organization,
                                open_signup=settings.registration != "closed", min_length=settings.password_min_length,
                                request=request)
    return user_out(user)


@router.post("/login", response_model=TokenPair, dependencies=[Depends(anonymous_rate_limit)],
             responses={429: {"description": "too many failed sign-ins for this account, or too many being checked"}})
async def login(body: Credentials, request: Request, factory: SessionsDep, issuer: IssuerDep, limits: LimitsDep,
                passwords: PasswordsDep) -> TokenPair:
    return token_pair(await sessions.sign_in(factory, limits, passwords, issuer, email=body.email, password=body.password,
                                             request=request))


@router.post("/refresh", response_model=TokenPair, dependencies=[Depends(anonymous_rate_limit)])
async def refresh(body: RefreshIn, request: Request, session: SessionDep, issuer: IssuerDep) -> TokenPair:
    return token_pair(await sessions.refresh(session, issuer, body.refresh_token, request))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             summary="Sign out everywhere: every access and refresh token of the account stops working")
async def logout(request: Request, principal: PrincipalDep, session: SessionDep, accounts: AccountsDep) -> Response:
    await sessions.sign_out(session, accounts, principal, request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password", response_model=TokenPair,
             summary="Change the password; every other session ends, this call gets a fresh token pair")
async def change_password(
    body: PasswordChange, request: Request, principal: PrincipalDep, settings: SettingsDep, factory: SessionsDep,
    issuer: IssuerDep, accounts: AccountsDep, passwords: PasswordsDep,
) -> TokenPair:
    return token_pair(await sessions.change_password(
        factory, passwords, issuer, accounts, principal, current_password=body.current_password, new_password=body.new_password,
        min_length=settings.password_min_length, request=request))
