"""Request dependencies: settings, database sessions, downstream stubs, the gateway's modules built
at start-up (uploads, privacy, caches), the caller.

All are `async def`: FastAPI runs plain `def` dependencies on a thread pool, a hop that
would cost every request on the streaming path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.errors import AppError, ErrorCode
from gateway.grpc_clients import Downstream, caller_of
from gateway.identity import roles
from gateway.identity.accounts import KEY_PREFIX, Accounts
from gateway.identity.tenants import TenantPolicies
from gateway.limits.limiter import Limits
from gateway.privacy import Privacy
from gateway.security import PasswordHashing, Principal, TokenIssuer
from gateway.settings import GatewaySettings
from gateway.uploads.files import Uploads

_bearer = HTTPBearer(auto_error=False, description="A JWT access token from /api/v1/auth/login, or an API key (cbk_…)")


async def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


async def get_downstream(request: Request) -> Downstream:
    return request.app.state.downstream


async def get_issuer(request: Request) -> TokenIssuer:
    return request.app.state.issuer


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_sessions(request: Request) -> async_sessionmaker:
    """The session factory, for work that must not hold one connection throughout (password hashing)."""
    return request.app.state.sessions


async def get_uploads(request: Request) -> Uploads:
    return request.app.state.uploads


async def get_privacy(request: Request) -> Privacy:
    return request.app.state.privacy


async def get_tenants(request: Request) -> TenantPolicies:
    return request.app.state.tenants


async def get_limits(request: Request) -> Limits:
    return request.app.state.limits


async def get_accounts(request: Request) -> Accounts:
    return request.app.state.accounts


async def get_passwords(request: Request) -> PasswordHashing:
    return request.app.state.passwords


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "missing bearer token")
    token = credentials.credentials
    accounts: Accounts = request.app.state.accounts
    oidc = request.app.state.oidc
    if token.startswith(KEY_PREFIX):
        principal = await accounts.from_api_key(token)
    elif oidc is not None and oidc.claims_issuer(token) == oidc.issuer:
        principal = await accounts.from_oidc(await oidc.verify(token), request.app.state.settings)
    else:
        principal = await accounts.from_token(request.app.state.issuer.principal(token))
    request.state.principal = principal
    await request.app.state.limits.check_request(request, principal)
    return principal


async def anonymous_rate_limit(request: Request) -> None:
    """Sign-in and sign-up are limited per client address (brute force, mass sign-up)."""
    await request.app.state.limits.check_request(request, None)


def permission(name: str):
    """A dependency that authenticates the caller and requires one permission (roles.py)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if name not in principal.permissions:
            raise AppError(ErrorCode.PERMISSION_DENIED, f"this action needs the '{name}' permission", {"permission": name})
        return principal

    check.__name__ = f"require_{name.replace(':', '_')}"
    return check


caller_pb = caller_of  # the name routes know it by


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
DownstreamDep = Annotated[Downstream, Depends(get_downstream)]
IssuerDep = Annotated[TokenIssuer, Depends(get_issuer)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionsDep = Annotated[async_sessionmaker, Depends(get_sessions)]
UploadsDep = Annotated[Uploads, Depends(get_uploads)]
PrivacyDep = Annotated[Privacy, Depends(get_privacy)]
TenantsDep = Annotated[TenantPolicies, Depends(get_tenants)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
LimitsDep = Annotated[Limits, Depends(get_limits)]
PasswordsDep = Annotated[PasswordHashing, Depends(get_passwords)]
ChatCaller = Annotated[Principal, Depends(permission(roles.CHAT))]
DocumentReader = Annotated[Principal, Depends(permission(roles.DOCUMENTS_READ))]
DocumentWriter = Annotated[Principal, Depends(permission(roles.DOCUMENTS_WRITE))]
Admin = Annotated[Principal, Depends(permission(roles.ADMIN))]
