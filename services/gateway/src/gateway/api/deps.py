"""Request dependencies: settings, database sessions, downstream stubs, the gateway's modules built
at start-up (uploads, privacy, caches), the caller.

All are `async def`: FastAPI runs plain `def` dependencies on a thread pool, a hop that
would cost every request on the streaming path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.errors import AppError, ErrorCode
from gateway.answers.relay import Relays
from gateway.grpc_clients import Downstream, caller_of
from gateway.identity import roles
from gateway.identity.accounts import KEY_PREFIX, Accounts
from gateway.identity.oidc_login import OidcLogin
from gateway.identity.tenants import TenantPolicies
from gateway.limits.limiter import Limits
from gateway.mcp_servers import McpServers
from gateway.privacy import Privacy
from gateway.security import PasswordHashing, Principal, TokenIssuer
from gateway.settings import GatewaySettings
from gateway.uploads.files import Uploads

_bearer = HTTPBearer(auto_error=False, description="A JWT access token from /api/v1/auth/login, or an API key (cbk_…)")


def _built_at_start(name: str):
    """A dependency handing a route what the app's lifespan built as `app.state.<name>`."""

    async def get(request: Request):
        return getattr(request.app.state, name)

    get.__name__ = f"get_{name}"
    return get


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "missing bearer token")
    return await authenticate(request, credentials.credentials)


async def get_optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller when a good bearer token came; None when none did or it no longer works (a
    route that has another way to know the caller, such as the session cookie, decides)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        return None
    try:
        return await authenticate(request, credentials.credentials)
    except AppError as error:
        if error.code is ErrorCode.AUTHENTICATION_ERROR:
            return None
        raise


async def authenticate(conn: HTTPConnection, token: str) -> Principal:
    """The caller a token stands for (an access token of ours or of the OIDC issuer, or an API
    key), counted against the caller's request limit; for requests and WebSockets alike."""
    accounts: Accounts = conn.app.state.accounts
    oidc = conn.app.state.oidc
    if token.startswith(KEY_PREFIX):
        principal = await accounts.from_api_key(token)
    elif oidc is not None and oidc.claims_issuer(token) == oidc.issuer:
        principal = await accounts.from_oidc(await oidc.verify(token), conn.app.state.settings)
    else:
        principal = await accounts.from_token(conn.app.state.issuer.principal(token))
    conn.state.principal = principal
    await conn.app.state.limits.check_request(conn, principal)
    return principal


async def anonymous_rate_limit(request: Request) -> None:
    """Sign-in and sign-up are limited per client address (brute force, mass sign-up)."""
    await request.app.state.limits.check_request(request, None)


def require(principal: Principal, name: str) -> Principal:
    """The caller, if it has the permission (roles.py); else 403."""
    if name not in principal.permissions:
        raise AppError(ErrorCode.PERMISSION_DENIED, f"this action needs the '{name}' permission", {"permission": name})
    return principal


def permission(name: str):
    """A dependency that authenticates the caller and requires one permission (roles.py)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        return require(principal, name)

    check.__name__ = f"require_{name.replace(':', '_')}"
    return check


caller_pb = caller_of  # the name routes know it by


SettingsDep = Annotated[GatewaySettings, Depends(_built_at_start("settings"))]
DownstreamDep = Annotated[Downstream, Depends(_built_at_start("downstream"))]
IssuerDep = Annotated[TokenIssuer, Depends(_built_at_start("issuer"))]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
# The session factory, for work that must not hold one connection throughout (password hashing).
SessionsDep = Annotated[async_sessionmaker, Depends(_built_at_start("sessions"))]
UploadsDep = Annotated[Uploads, Depends(_built_at_start("uploads"))]
PrivacyDep = Annotated[Privacy, Depends(_built_at_start("privacy"))]
TenantsDep = Annotated[TenantPolicies, Depends(_built_at_start("tenants"))]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]
AccountsDep = Annotated[Accounts, Depends(_built_at_start("accounts"))]
LimitsDep = Annotated[Limits, Depends(_built_at_start("limits"))]
McpServersDep = Annotated[McpServers, Depends(_built_at_start("mcp_servers"))]
RelaysDep = Annotated[Relays, Depends(_built_at_start("relays"))]
PasswordsDep = Annotated[PasswordHashing, Depends(_built_at_start("passwords"))]
# None: no external issuer is configured for browser sign-in.
OidcLoginDep = Annotated[OidcLogin | None, Depends(_built_at_start("oidc_login"))]
ChatCaller = Annotated[Principal, Depends(permission(roles.CHAT))]
DocumentReader = Annotated[Principal, Depends(permission(roles.DOCUMENTS_READ))]
DocumentWriter = Annotated[Principal, Depends(permission(roles.DOCUMENTS_WRITE))]
DocumentSharer = Annotated[Principal, Depends(permission(roles.DOCUMENTS_SHARE))]
Admin = Annotated[Principal, Depends(permission(roles.ADMIN))]
