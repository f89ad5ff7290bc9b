"""Sessions (the `refresh_tokens` table and each account's session epoch): sign-in, refresh-token
rotation, sign-out, password change.

Refresh tokens rotate: each is good for one refresh, and a used one coming back (a stolen copy)
revokes its whole family. A family lives at most `TokenIssuer.session_max_seconds` from its
sign-in, however often it rotates: then the person signs in again. Sign-out, a password change
and disabling an account raise the account's session epoch and revoke every refresh token
(`end_sessions`): every session ends, on every replica.

Password hashing never holds a database connection: the account is read in a short session,
released, the hash checked on the bounded hashing threads, then written. Failed sign-ins are
limited per account (`Limits.begin_sign_in`) on top of the per-address request rate."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.identity import users
from gateway.identity.accounts import Accounts
from gateway.limits.limiter import Limits
from gateway.models import RefreshToken, User
from gateway.security import PasswordHashing, Principal, TokenIssuer


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int  # seconds: the refresh token's, never past the session's longest lifetime


async def issue(session: AsyncSession, issuer: TokenIssuer, user: User, family: RefreshToken | None = None) -> IssuedTokens:
    """A new access token and a new refresh token (of a new family, or continuing the family of
    the `family` token being rotated); commits."""
    now = utcnow()
    jti = secrets.token_hex(16)
    family_id, started = (family.family_id, _started(family)) if family is not None else (secrets.token_hex(16), now)
    expires_at = min(now + timedelta(seconds=issuer.refresh_ttl), started + timedelta(seconds=issuer.session_max_seconds))
    session.add(RefreshToken(
        jti=jti, user_id=user.id, family_id=family_id, family_started_at=started, expires_at=expires_at, revoked=False, created_at=now,
    ))
    await session.commit()
    # Rounded up: the cookie may outlive the session by less than a second, never end before it.
    refresh_ttl = max(1, math.ceil((expires_at - now).total_seconds()))
    # The access token ends with the session too (rounded down: never past the family's end).
    session_end = started + timedelta(seconds=issuer.session_max_seconds)
    access_ttl = max(1, min(issuer.access_ttl, math.floor((session_end - now).total_seconds())))
    return IssuedTokens(
        access_token=issuer.access_token(Principal(user.id, user.tenant_id, user.role, epoch=user.session_epoch), ttl=access_ttl),
        refresh_token=issuer.refresh_token(user.id, jti, family_id, ttl=refresh_ttl),
        expires_in=access_ttl,
        refresh_expires_in=refresh_ttl,
    )


def _started(token: RefreshToken) -> datetime:
    # Tokens issued before families recorded their start count from their own issue.
    return token.family_started_at or token.created_at


async def end_sessions(session: AsyncSession, user_id: str) -> None:
    """Every access token of the account stops working; every refresh token is revoked."""
    await users.raise_epoch(session, user_id)
    await session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id).values(revoked=True))


async def remove_sessions(session: AsyncSession, user_id: str) -> int:
    return (await session.execute(delete(RefreshToken).where(RefreshToken.user_id == user_id))).rowcount


async def _account(sessions: async_sessionmaker, email: str) -> User | None:
    """The account for a sign-in, read in a transaction of its own that ends before hashing."""
    async with sessions() as session:
        return await users.by_email(session, email)


def _login_event(user: User | None, email: str, request: audit.Origin, outcome: str, reason: str):
    return audit.event(
        tenant_id=user.tenant_id if user else "", actor_id=user.id if user else "", actor_kind="user" if user else "anonymous",
        action="auth.login", outcome=outcome, request=request,
        details={"reason": reason} | ({} if user else {"subject": audit.subject_hash(email)}),
    )


async def sign_in(sessions: async_sessionmaker, limits: Limits, passwords: PasswordHashing, issuer: TokenIssuer, *,
                  email: str, password: str, request: audit.Origin) -> IssuedTokens:
    try:
        attempt = await limits.begin_sign_in(email)
    except AppError as refusal:
        # Refused without looking at the password, a right one included: otherwise the limit
        # would only slow down wrong guesses and still confirm the right one.
        if refusal.code is ErrorCode.RATE_LIMIT_EXCEEDED:
            await audit.write(sessions, _login_event(await _account(sessions, email), email, request,
                                                     "blocked", "too many failed sign-ins"))
        raise
    user = await _account(sessions, email)
    try:
        # An unknown address is checked against a dummy hash: the same time as a real account.
        ok = await passwords.verify(user.password_hash if user else None, password)
    except AppError:  # too many being checked: this one was not, so it is not a failure either
        await limits.sign_in_not_failed(attempt)
        raise
    if not ok or user is None or not user.is_active:
        reason = "unknown account" if user is None else ("account disabled" if ok else "wrong password")
        await audit.write(sessions, _login_event(user, email, request, "failure", reason))
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid email or password")
    await limits.sign_in_not_failed(attempt)
    async with sessions() as session:
        audit.add(session, audit.event(tenant_id=user.tenant_id, actor_id=user.id, actor_kind="user", action="auth.login",
                                       request=request))
        return await issue(session, issuer, user)


async def refresh(session: AsyncSession, issuer: TokenIssuer, token: str, request: audit.Origin) -> IssuedTokens:
    claims = issuer.decode(token, "refresh")
    stored = await session.get(RefreshToken, claims["jti"])
    if stored is None or stored.revoked:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token revoked")
    if stored.used_at is not None:
        # A rotated token came back: someone holds a copy. End the whole session family.
        await session.execute(update(RefreshToken).where(RefreshToken.family_id == stored.family_id).values(revoked=True))
        user = await users.get(session, stored.user_id)
        audit.add(session, audit.event(tenant_id=user.tenant_id if user else "", actor_id=stored.user_id, actor_kind="user",
                                       action="auth.refresh_reuse", outcome="blocked", request=request,
                                       details={"family": stored.family_id[:8]}))
        await session.commit()
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token reused; session revoked")
    now = datetime.now(UTC)
    if _started(stored) + timedelta(seconds=issuer.session_max_seconds) <= now:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "the session has reached its longest lifetime; sign in again",
                       {"reason": "session_lifetime"})
    if stored.expires_at < now:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token expired")
    user = await users.get(session, stored.user_id)
    if user is None or not user.is_active:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account disabled")
    # Mark used only if nobody else did in the meantime (two concurrent refreshes).
    result = await session.execute(
        update(RefreshToken).where(RefreshToken.jti == stored.jti, RefreshToken.used_at.is_(None)).values(used_at=utcnow())
    )
    if result.rowcount != 1:
        await session.rollback()
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "refresh token already used")
    return await issue(session, issuer, user, stored)


async def sign_out(session: AsyncSession, accounts: Accounts, principal: Principal, request: audit.Origin) -> None:
    """Everywhere: every access and refresh token of the account stops working."""
    if principal.key_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "an API key has no session; an admin revokes keys")
    await end_sessions(session, principal.user_id)
    audit.add(session, audit.by(principal, "auth.logout", request))
    await session.commit()
    accounts.invalidate(principal.user_id)


async def end_browser_session(session: AsyncSession, issuer: TokenIssuer, token: str, request: audit.Origin) -> None:
    """A browser signs out with its refresh cookie alone (its access token may have expired):
    that session's refresh tokens, rotated ones included, stop working."""
    claims = issuer.decode(token, "refresh")
    stored = await session.get(RefreshToken, claims["jti"])
    if stored is None:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "no such session")
    await session.execute(update(RefreshToken).where(RefreshToken.family_id == stored.family_id).values(revoked=True))
    user = await users.get(session, stored.user_id)
    audit.add(session, audit.event(tenant_id=user.tenant_id if user else "", actor_id=stored.user_id, actor_kind="user",
                                   action="auth.logout", request=request, details={"family": stored.family_id[:8]}))
    await session.commit()


async def change_password(sessions: async_sessionmaker, passwords: PasswordHashing, issuer: TokenIssuer, accounts: Accounts,
                          principal: Principal, *, current_password: str, new_password: str, min_length: int,
                          request: audit.Origin) -> IssuedTokens:
    """Every other session ends; the caller gets a fresh token pair."""
    if principal.key_id:
        raise AppError(ErrorCode.VALIDATION_ERROR, "an API key cannot change a password")
    async with sessions() as session:  # released before hashing
        current = await users.password_hash(session, principal.user_id)
    if current is None or not await passwords.verify(current, current_password):
        await audit.write(sessions, audit.by(principal, "auth.password_change", request, outcome="failure"))
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "current password is wrong")
    users.check_password_policy(new_password, min_length)
    new_hash = await passwords.hash(new_password)
    async with sessions() as session:
        if not await users.replace_password_hash(session, principal.user_id, current, new_hash):
            await session.rollback()
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "current password is wrong")
        await end_sessions(session, principal.user_id)
        audit.add(session, audit.by(principal, "auth.password_change", request))
        await session.commit()
        user = await users.get(session, principal.user_id)
        accounts.invalidate(user.id)
        return await issue(session, issuer, user)
