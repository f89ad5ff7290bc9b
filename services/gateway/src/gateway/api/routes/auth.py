"""Registration, login and refresh-token rotation."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from gateway.api.deps import IssuerDep, SessionDep, SettingsDep
from gateway.models import RefreshToken, User
from gateway.security import Principal, hash_password, verify_password

router = APIRouter(prefix="/auth", tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class UserOut(BaseModel):
    id: str
    email: str
    tenant_id: str
    role: str
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: Credentials, session: SessionDep, settings: SettingsDep) -> UserOut:
    if len(body.password) < settings.password_min_length:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"password must be at least {settings.password_min_length} characters", {"field": "password"})
    user = User(
        id=new_id("usr"), email=body.email, password_hash=await asyncio.to_thread(hash_password, body.password),
        tenant_id="default", role="member", is_active=True, created_at=utcnow(),
    )
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise AppError(ErrorCode.CONFLICT, "an account with this email already exists") from None
    return UserOut(id=user.id, email=user.email, tenant_id=user.tenant_id, role=user.role, created_at=user.created_at)


async def _issue(session, issuer, user: User, family_id: str | None = None) -> TokenPair:
    jti = secrets.token_hex(16)
    family = family_id or secrets.token_hex(16)
    session.add(RefreshToken(
        jti=jti, user_id=user.id, family_id=family, expires_at=utcnow() + timedelta(seconds=issuer.refresh_ttl),
        revoked=False, created_at=utcnow(),
    ))
    await session.commit()
    return TokenPair(
        access_token=issuer.access_token(Principal(user.id, user.tenant_id, user.role)),
        refresh_token=issuer.refresh_token(user.id, jti, family),
        expires_in=issuer.access_ttl,
    )


@router.post("/login", response_model=TokenPair)
async def login(body: Credentials, session: SessionDep, issuer: IssuerDep) -> TokenPair:
    user = await session.scalar(select(User).where(User.email == body.email))
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, body.password)
    if not ok or user is None or not user.is_active:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid email or password")
    return await _issue(session, issuer, user)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshIn, session: SessionDep, issuer: IssuerDep) -> TokenPair:
    claims = issuer.decode(body.refresh_token, "refresh")
    stored = await session.get(RefreshToken, claims["jti"])
    if stored is None or stored.revoked:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token revoked")
    if stored.used_at is not None:
        # A rotated token came back: someone holds a copy. End the whole session family.
        await session.execute(update(RefreshToken).where(RefreshToken.family_id == stored.family_id).values(revoked=True))
        await session.commit()
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token reused; session revoked")
    if stored.expires_at < datetime.now(UTC):
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token expired")
    user = await session.get(User, stored.user_id)
    if user is None or not user.is_active:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account disabled")
    # Mark used only if nobody else did in the meantime (two concurrent refreshes).
    result = await session.execute(
        update(RefreshToken).where(RefreshToken.jti == stored.jti, RefreshToken.used_at.is_(None)).values(used_at=utcnow())
    )
    if result.rowcount != 1:
        await session.rollback()
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token already used")
    return await _issue(session, issuer, user, stored.family_id)
