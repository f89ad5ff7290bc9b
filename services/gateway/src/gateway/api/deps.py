"""Request dependencies: settings, database sessions, downstream stubs, the caller.

All are `async def`: FastAPI runs plain `def` dependencies on a thread pool, a hop that
would cost every request on the streaming path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.common.v1 import common_pb2
from chatbot_common.errors import AppError, ErrorCode
from gateway.grpc_clients import Downstream
from gateway.security import Principal, TokenIssuer
from gateway.settings import GatewaySettings

_bearer = HTTPBearer(auto_error=False, description="JWT access token from /api/v1/auth/login")


async def get_settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


async def get_downstream(request: Request) -> Downstream:
    return request.app.state.downstream


async def get_issuer(request: Request) -> TokenIssuer:
    return request.app.state.issuer


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    issuer: Annotated[TokenIssuer, Depends(get_issuer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "missing bearer token")
    return issuer.principal(credentials.credentials)


def caller_pb(principal: Principal) -> common_pb2.Caller:
    return common_pb2.Caller(user_id=principal.user_id, tenant_id=principal.tenant_id, roles=[principal.role])


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
DownstreamDep = Annotated[Downstream, Depends(get_downstream)]
IssuerDep = Annotated[TokenIssuer, Depends(get_issuer)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
