"""Browser sign-in through the configured external OpenID Connect issuer (the rules are in
`gateway.identity.oidc_login`), and the sign-in screen's public configuration.

Both sign-in routes are browser navigations: every outcome is a redirect, to the issuer, back into
the app, or to the sign-in screen with `?oidc_error=<reason>` (the app has a message for each)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from chatbot_common.errors import AppError, ErrorCode
from gateway.api import session_cookie
from gateway.api.deps import LimitsDep, OidcLoginDep, SettingsDep
from gateway.api.schemas.oidc import AuthConfig, ExternalSignIn
from gateway.identity.oidc_login import SignInFailed

router = APIRouter(prefix="/auth", tags=["auth"])
LOGIN_PATH = "/api/v1/auth/oidc/login"
_CALLBACK_PARAMS = ("code", "state", "error", "iss")


def _to_sign_in(reason: str) -> RedirectResponse:
    return RedirectResponse("/?" + urlencode({"oidc_error": reason}), status_code=303)


async def _within_limit(request: Request, limits) -> None:
    try:
        await limits.check_request(request, None)  # per client address, as password sign-in
    except AppError as refused:
        if refused.code is ErrorCode.RATE_LIMIT_EXCEEDED:
            raise SignInFailed("busy") from None
        raise


@router.get("/config", response_model=AuthConfig, summary="How people can sign in (public)")
async def auth_config(login: OidcLoginDep) -> AuthConfig:
    return AuthConfig(oidc=ExternalSignIn(name=login.display_name, login_url=LOGIN_PATH) if login else None)


@router.get("/oidc/login", status_code=302, response_class=RedirectResponse,
            summary="Start a browser sign-in at the external issuer (authorization code with PKCE)",
            responses={302: {"description": "to the issuer's authorization endpoint"},
                       303: {"description": "to the sign-in screen with ?oidc_error=<reason>"},
                       404: {"description": "no external issuer is configured for browsers"}})
async def oidc_login(request: Request, login: OidcLoginDep, limits: LimitsDep, settings: SettingsDep,
                     return_to: Annotated[str | None, Query(description="a path of this app to come back to")] = None):
    if login is None:
        raise AppError(ErrorCode.NOT_FOUND, "sign-in through an external identity provider is not configured")
    try:
        await _within_limit(request, limits)
        started = await login.start(return_to, session_cookie.sign_in_binding(request, settings.hsts))
    except SignInFailed as failed:
        return _to_sign_in(failed.reason)
    response = RedirectResponse(started.authorization_url, status_code=302)
    session_cookie.set_sign_in_binding(response, request, started.binding, settings.oidc_login_ttl_seconds, settings.hsts)
    return response


@router.get("/oidc/callback", status_code=303, response_class=RedirectResponse,
            summary="Where the issuer sends the browser back: the session starts (refresh cookie) and the app opens",
            responses={303: {"description": "into the app signed in, or to the sign-in screen with ?oidc_error=<reason>"},
                       404: {"description": "no external issuer is configured for browsers"}})
async def oidc_callback(request: Request, login: OidcLoginDep, limits: LimitsDep, settings: SettingsDep):
    if login is None:
        raise AppError(ErrorCode.NOT_FOUND, "sign-in through an external identity provider is not configured")
    params = {name: request.query_params[name] for name in _CALLBACK_PARAMS if name in request.query_params}
    try:
        await _within_limit(request, limits)
        finished = await login.finish(params, session_cookie.sign_in_binding(request, settings.hsts), request)
    except SignInFailed as failed:
        return _to_sign_in(failed.reason)
    response = RedirectResponse(finished.return_to, status_code=303)
    session_cookie.set_refresh(response, request, finished.tokens.refresh_token, finished.tokens.refresh_expires_in, settings.hsts)
    return response
