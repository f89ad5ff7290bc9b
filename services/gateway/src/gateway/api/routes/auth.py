"""Sign-up, sign-in, refresh-token rotation, logout and password change.

Refresh tokens rotate: each is good for one refresh, and a used one coming back (a stolen copy)
revokes its whole family. Logout, a password change and disabling an account raise the
account's session epoch and revoke every refresh token: every session ends, on every replica.

Open sign-up never joins an existing organisation: naming one creates it, naming none creates a
personal one; in both the registrant is its admin. People join an organisation only when its
admin adds them (`POST /api/v1/admin/users`).

Password hashing never holds a database connection: a route reads what it needs, releases the
connection, hashes on the bounded hashing threads, then writes. Failed sign-ins are limited per
account (`Limits.begin_sign_in`) on top of the per-address request rate."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from gateway import audit
from gateway.api.deps import (
    AccountsDep, anonymous_rate_limit, IssuerDep, LimitsDep, PasswordsDep, PrincipalDep, SessionDep, SettingsDep,
)
from gateway.models import RefreshToken, Tenant, User
from gateway.security import Principal

router = APIRouter(prefix="/auth", tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class Registration(Credentials):
    organization: str | None = Field(
        None, min_length=1, max_length=200, description="Create a new organisation (tenant) with you as its admin"
    )


class UserOut(BaseModel):
    id: str
    email: str
    tenant_id: str
    role: str
    is_active: bool = True
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, tenant_id=user.tenant_id, role=user.role, is_active=user.is_active,
                   created_at=user.created_at)


def check_password_policy(password: str, settings) -> None:
    if len(password) < settings.password_min_length:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"password must be at least {settings.password_min_length} characters",
                       {"field": "password"})


def _tenant_id(name: str, random_bytes: int = 4) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "org"
    return f"{slug}-{secrets.token_hex(random_bytes)}"


async def create_user(session, email: str, password_hash: str, tenant_id: str, role: str) -> User:
    """Adds the account to the session's transaction. The caller hashes the password first
    (`PasswordHashing.hash`), before its session takes a connection."""
    user = User(id=new_id("usr"), email=email, password_hash=password_hash,
                tenant_id=tenant_id, role=role, is_active=True, session_epoch=0, created_at=utcnow())
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise AppError(ErrorCode.CONFLICT, "an account with this email already exists") from None
    return user


@router.post("/register", dependencies=[Depends(anonymous_rate_limit)], status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: Registration, request: Request, session: SessionDep, settings: SettingsDep,
                   passwords: PasswordsDep) -> UserOut:
    if settings.registration == "closed":
        raise AppError(ErrorCode.PERMISSION_DENIED, "sign-up is closed; ask your organisation's admin for an account")
    check_password_policy(body.password, settings)
    password_hash = await passwords.hash(body.password)
    if body.organization:
        tenant = Tenant(id=_tenant_id(body.organization), name=body.organization.strip(), created_at=utcnow())
    else:
        # Never a shared default tenant: anyone could sign up into it and read what its members
        # share with the tenant. A personal organisation is private until its admin adds people.
        tenant = Tenant(id=_tenant_id("personal", 8), name="Personal", created_at=utcnow())
    session.add(tenant)
    role = "admin"
    user = await create_user(session, body.email, password_hash, tenant.id, role)
    audit.add(session, audit.event(tenant_id=tenant.id, actor_id=user.id, actor_kind="user", action="user.register",
                                   target_type="user", target_id=user.id, request=request,
                                   details={"role": role, "organization": "named" if body.organization else "personal"}))
    await session.commit()
    return user_out(user)


async def issue_tokens(session, issuer, user: User, family_id: str | None = None) -> TokenPair:
    jti = secrets.token_hex(16)
    family = family_id or secrets.token_hex(16)
    session.add(RefreshToken(
        jti=jti, user_id=user.id, family_id=family, expires_at=utcnow() + timedelta(seconds=issuer.refresh_ttl),
        revoked=False, created_at=utcnow(),
    ))
    await session.commit()
    return TokenPair(
        access_token=issuer.access_token(Principal(user.id, user.tenant_id, user.role, epoch=user.session_epoch)),
        refresh_token=issuer.refresh_token(user.id, jti, family),
        expires_in=issuer.access_ttl,
    )


async def end_sessions(session, user_id: str) -> None:
    """Every access token of the account stops working; every refresh token is revoked."""
    await session.execute(update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1))
    await session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id).values(revoked=True))


async def _account(sessions, email: str) -> User | None:
    """The account for a sign-in, read in a transaction of its own that ends before hashing."""
    async with sessions() as session:
        return await session.scalar(select(User).where(User.email == email))


def _login_event(user: User | None, email: str, request: Request, outcome: str, reason: str):
    return audit.event(
        tenant_id=user.tenant_id if user else "", actor_id=user.id if user else "", actor_kind="user" if user else "anonymous",
        action="auth.login", outcome=outcome, request=request,
        details={"reason": reason} | ({} if user else {"subject": audit.subject_hash(email)}),
    )


@router.post("/login", response_model=TokenPair, dependencies=[Depends(anonymous_rate_limit)],
             responses={429: {"description": "too many failed sign-ins for this account, or too many being checked"}})
async def login(body: Credentials, request: Request, issuer: IssuerDep, limits: LimitsDep, passwords: PasswordsDep) -> TokenPair:
    sessions = request.app.state.sessions
    try:
        attempt = await limits.begin_sign_in(body.email)
    except AppError as refusal:
        # Refused without looking at the password, a right one included: otherwise the limit
        # would only slow down wrong guesses and still confirm the right one.
        if refusal.code is ErrorCode.RATE_LIMIT_EXCEEDED:
            await audit.write(sessions, _login_event(await _account(sessions, body.email), body.email, request,
                                                     "blocked", "too many failed sign-ins"))
        raise
    user = await _account(sessions, body.email)
    try:
        # An unknown address is checked against a dummy hash: the same time as a real account.
        ok = await passwords.verify(user.password_hash if user else None, body.password)
    except AppError:  # too many being checked: this one was not, so it is not a failure either
        await limits.sign_in_not_failed(attempt)
        raise
    if not ok or user is None or not user.is_active:
        reason = "unknown account" if user is None else ("account disabled" if ok else "wrong password")
        await audit.write(sessions, _login_event(user, body.email, request, "failure", reason))
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid email or password")
    await limits.sign_in_not_failed(attempt)
    async with sessions() as session:
        audit.add(session, audit.event(tenant_id=user.tenant_id, actor_id=user.id, actor_kind="user", action="auth.login",
                                       request=request))
        return await issue_tokens(session, issuer, user)


@router.post("/refresh", response_model=TokenPair, dependencies=[Depends(anonymous_rate_limit)])
async def refresh(body: RefreshIn, request: Request, session: SessionDep, issuer: IssuerDep) -> TokenPair:
    claims = issuer.decode(body.refresh_token, "refresh")
    stored = await session.get(RefreshToken, claims["jti"])
    if stored is None or stored.revoked:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token revoked")
    if stored.used_at is not None:
        # A rotated token came back: someone holds a copy. End the whole session family.
        await session.execute(update(RefreshToken).where(RefreshToken.family_id == stored.family_id).values(revoked=True))
        user = await session.get(User, stored.user_id)
        audit.add(session, audit.event(tenant_id=user.tenant_id if user else "", actor_id=stored.user_id, actor_kind="user",
                                       action="auth.refresh_reuse", outcome="blocked", request=request,
                                       details={"family": stored.family_id[:8]}))
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
    return await issue_tokens(session, issuer, user, stored.family_id)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             summary="Sign out everywhere: every access and refresh token of the account stops working")
async def logout(request: Request, principal: PrincipalDep, session: SessionDep, accounts: AccountsDep) -> Response:
    if principal.key_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "an API key has no session; an admin revokes keys")
    await end_sessions(session, principal.user_id)
    audit.add(session, audit.by(principal, "auth.logout", request))
    await session.commit()
    accounts.invalidate(principal.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password", response_model=TokenPair,
             summary="Change the password; every other session ends, this call gets a fresh token pair")
async def change_password(
    body: PasswordChange, request: Request, principal: PrincipalDep, settings: SettingsDep,
    issuer: IssuerDep, accounts: AccountsDep, passwords: PasswordsDep,
) -> TokenPair:
    if principal.key_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "an API key cannot change a password")
    sessions = request.app.state.sessions
    async with sessions() as session:  # released before hashing
        current = await session.scalar(select(User.password_hash).where(User.id == principal.user_id))
    if current is None or not await passwords.verify(current, body.current_password):
        await audit.write(sessions, audit.by(principal, "auth.password_change", request, outcome="failure"))
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "current password is wrong")
    check_password_policy(body.new_password, settings)
    new_hash = await passwords.hash(body.new_password)
    async with sessions() as session:
        # Only over the hash that was verified: a change made meanwhile wins, this one is refused.
        changed = await session.execute(
            update(User).where(User.id == principal.user_id, User.password_hash == current).values(password_hash=new_hash)
        )
        if changed.rowcount != 1:
            await session.rollback()
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "current password is wrong")
        await end_sessions(session, principal.user_id)
        audit.add(session, audit.by(principal, "auth.password_change", request))
        await session.commit()
        user = await session.get(User, principal.user_id)
        accounts.invalidate(user.id)
        return await issue_tokens(session, issuer, user)
