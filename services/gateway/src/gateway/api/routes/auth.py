"""Sign-up, sign-in, refresh-token rotation, logout and password change (the rules are in
`gateway.identity.users` and `gateway.identity.sessions`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from chatbot_common.errors import AppError, ErrorCode
from gateway.api.deps import (
    AccountsDep, anonymous_rate_limit, IssuerDep, LimitsDep, OptionalPrincipalDep, PasswordsDep, PrincipalDep, SessionDep, SessionsDep,
    SettingsDep,
)
from gateway.api import session_cookie
from gateway.errors import error_response
from gateway.api.schemas.auth import (
    AccessToken, Credentials, PasswordChange, RefreshIn, Registration, TokenPair, UserOut, access_token, token_pair, user_out,
)
from gateway.identity import sessions, users
from gateway.identity.sessions import IssuedTokens

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", dependencies=[Depends(anonymous_rate_limit)], status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: Registration, request: Request, session: SessionDep, settings: SettingsDep,
                   passwords: PasswordsDep) -> UserOut:
    user = await users.register(session, passwords, email=body.email, password=body.password, organization=body.organization,
                                open_signup=settings.registration != "closed", min_length=settings.password_min_length,
                                request=request)
    return user_out(user)


_COOKIE_FLOW = ("With `X-Auth-Session: cookie` (browsers): the refresh token travels in an httpOnly, SameSite=Strict "
                "cookie instead of the body.")


def _answer(tokens: IssuedTokens, request: Request, response: Response, settings) -> TokenPair | AccessToken:
    if not session_cookie.wants_cookie(request):
        return token_pair(tokens)
    session_cookie.set_refresh(response, request, tokens.refresh_token, tokens.refresh_expires_in, settings.hsts)
    return access_token(tokens)


@router.post("/login", response_model=TokenPair | AccessToken, dependencies=[Depends(anonymous_rate_limit)], description=_COOKIE_FLOW,
             responses={429: {"description": "too many failed sign-ins for this account, or too many being checked"}})
async def login(body: Credentials, request: Request, response: Response, factory: SessionsDep, issuer: IssuerDep,
                limits: LimitsDep, passwords: PasswordsDep, settings: SettingsDep) -> TokenPair | AccessToken:
    if session_cookie.wants_cookie(request):
        session_cookie.check_same_origin(request)  # login CSRF: no other site signs this browser into its account
    tokens = await sessions.sign_in(factory, limits, passwords, issuer, email=body.email, password=body.password, request=request)
    return _answer(tokens, request, response, settings)


@router.post("/refresh", response_model=TokenPair | AccessToken, dependencies=[Depends(anonymous_rate_limit)],
             description="The JSON flow sends `refresh_token` in the body. " + _COOKIE_FLOW + " The cookie rotates too; "
                         "a request from another origin is refused (403).")
async def refresh(request: Request, response: Response, session: SessionDep, issuer: IssuerDep, settings: SettingsDep,
                  body: RefreshIn | None = None) -> TokenPair | AccessToken:
    if not session_cookie.wants_cookie(request):
        if body is None:
            raise AppError(ErrorCode.VALIDATION_ERROR, "request validation failed",
                           {"errors": [{"field": "refresh_token", "message": "Field required"}]})
        return _answer(await sessions.refresh(session, issuer, body.refresh_token, request), request, response, settings)
    try:
        token = session_cookie.cookie_token(request, settings.hsts)
        return _answer(await sessions.refresh(session, issuer, token, request), request, response, settings)
    except AppError as error:
        # A cookie that no longer refreshes (revoked, reused, expired, doubled) is dropped, so
        # the browser stops sending it on every load.
        refused = error_response(error)
        if error.code is ErrorCode.AUTHENTICATION_ERROR:
            session_cookie.clear_refresh(refused, request, settings.hsts)
        return refused


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             summary="Sign out everywhere: every access and refresh token of the account stops working")
async def logout(request: Request, principal: OptionalPrincipalDep, session: SessionDep, accounts: AccountsDep,
                 issuer: IssuerDep, settings: SettingsDep) -> Response:
    """With a good access token: everywhere. A browser whose access token has expired signs out
    with its session cookie alone (`X-Auth-Session: cookie`): that session ends. The cookie is
    cleared either way."""
    if principal is not None:
        await sessions.sign_out(session, accounts, principal, request)
    elif session_cookie.wants_cookie(request):
        await sessions.end_browser_session(session, issuer, session_cookie.cookie_token(request, settings.hsts), request)
    else:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "missing bearer token")
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    session_cookie.clear_refresh(response, request, settings.hsts)
    return response


@router.post("/password", response_model=TokenPair,
             summary="Change the password; every other session ends, this call gets a fresh token pair")
async def change_password(
    body: PasswordChange, request: Request, principal: PrincipalDep, settings: SettingsDep, factory: SessionsDep,
    issuer: IssuerDep, accounts: AccountsDep, passwords: PasswordsDep,
) -> TokenPair:
    return token_pair(await sessions.change_password(
        factory, passwords, issuer, accounts, principal, current_password=body.current_password, new_password=body.new_password,
        min_length=settings.password_min_length, request=request))
