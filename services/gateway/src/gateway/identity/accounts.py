"""Live account state behind stateless tokens.

An access token says who the caller was when it was issued; this checks, per request, that the
account is still active, that the session epoch in the token is the account's current one
(logout, password change and disabling raise it, ending every session at once), and takes the
role from the account, so a role change applies to existing sessions. API keys (`cbk_…`) are
looked up by id and compared by the SHA-256 of their secret.

Each state is cached for `recheck_seconds` (a dictionary lookup on the hot path); a change made
through this replica invalidates its entry at once, other replicas see it within that time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from gateway.identity.roles import key_permissions, role_permissions
from gateway.models import ApiKey, User
from gateway.security import Principal

KEY_PREFIX = "cbk_"
_KEY_FORMAT = re.compile(r"^cbk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
_LAST_USED_EVERY = timedelta(minutes=1)


def new_api_key() -> tuple[str, str, str]:
    """(key id, the full key shown once, the stored SHA-256 of its secret); 256 random bits."""
    body = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    return f"key_{body}", f"{KEY_PREFIX}{body}_{secret}", hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class _UserState:
    active: bool
    epoch: int
    tenant_id: str
    role: str
    checked: float


@dataclass(frozen=True)
class _KeyState:
    principal: Principal | None  # None: unknown, revoked, expired or its account disabled
    expires: float
    checked: float


def check_new_external_email(claims: dict, email: str, settings) -> None:
    """An account is created for an external person only when the issuer vouches for the address
    (`email_verified` true; absent only with `oidc_trust_unverified_email`) and its domain is
    allowed (`oidc_allowed_domains`, exact domains; empty: any)."""
    verified = claims.get("email_verified")
    if verified is None:
        verified = bool(getattr(settings, "oidc_trust_unverified_email", False))
    elif isinstance(verified, str):  # some issuers send "true"/"false"
        verified = verified.strip().lower() == "true"
    if verified is not True:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "the identity provider has not verified this e-mail address",
                       {"reason": "email_unverified"})
    allowed = {d.strip().lower().lstrip("@") for d in getattr(settings, "oidc_allowed_domains", None) or [] if d.strip()}
    if allowed and email.rsplit("@", 1)[1] not in allowed:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "accounts from this e-mail domain are not allowed here", {"reason": "domain"})


class Accounts:
    def __init__(self, sessions: async_sessionmaker, recheck_seconds: float = 2.0, cache_size: int = 50_000) -> None:
        self.sessions = sessions
        self.recheck = recheck_seconds
        self.cache_size = cache_size
        self._users: dict[str, _UserState] = {}
        self._keys: dict[str, _KeyState] = {}
        self._subjects: dict[str, str] = {}  # external "<issuer>|<sub>" -> account id

    def invalidate(self, user_id: str) -> None:
        self._users.pop(user_id, None)
        for subject in [s for s, u in self._subjects.items() if u == user_id]:
            self._subjects.pop(subject, None)
        # Keys acting for this account carry its role and state: look them up again too.
        for digest in [d for d, s in self._keys.items() if s.principal is not None and s.principal.user_id == user_id]:
            self._keys.pop(digest, None)

    def invalidate_keys(self) -> None:
        self._keys.clear()

    async def _user(self, user_id: str) -> _UserState | None:
        now = time.monotonic()
        state = self._users.get(user_id)
        if state is not None and now - state.checked < self.recheck:
            return state
        async with self.sessions() as session:
            row = (await session.execute(
                select(User.is_active, User.session_epoch, User.tenant_id, User.role).where(User.id == user_id)
            )).first()
        if row is None:
            self._users.pop(user_id, None)
            return None
        if len(self._users) >= self.cache_size:
            self._users.clear()
        state = self._users[user_id] = _UserState(bool(row[0]), int(row[1]), row[2], row[3], now)
        return state

    async def from_token(self, claimed: Principal) -> Principal:
        state = await self._user(claimed.user_id)
        if state is None or not state.active:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account disabled")
        if state.epoch != claimed.epoch:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "session ended; sign in again")
        return Principal(claimed.user_id, state.tenant_id, state.role, role_permissions(state.role), epoch=state.epoch)

    async def from_oidc(self, claims: dict, settings) -> Principal:
        """The account of an externally signed-in person (browser sign-in and bearer tokens alike),
        created on first sign-in only for a verified address in an allowed domain, and with
        registration closed only from a pending invitation (see `_provision`)."""
        subject = f"{claims['iss']}|{claims['sub']}"[:400]
        user_id = self._subjects.get(subject)
        if user_id is None:
            user_id = await self._provision(subject, claims, settings)
            self._subjects[subject] = user_id
        state = await self._user(user_id)
        if state is None or not state.active:
            self._subjects.pop(subject, None)
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account disabled", {"reason": "account_disabled"})
        return Principal(user_id, state.tenant_id, state.role, role_permissions(state.role), epoch=state.epoch)

    async def _provision(self, subject: str, claims: dict, settings) -> str:
        from gateway import audit
        from gateway.identity import invitations
        from gateway.identity.roles import ROLES
        from gateway.models import Tenant

        async with self.sessions() as session:
            existing = await session.scalar(select(User.id).where(User.external_subject == subject))
            if existing is not None:
                return existing
            email = str(claims.get("email") or "").strip().lower()
            if not email or "@" not in email or len(email) > 320:
                raise AppError(ErrorCode.AUTHENTICATION_ERROR, "the identity provider's token carries no e-mail", {"reason": "no_email"})
            check_new_external_email(claims, email, settings)
            if await session.scalar(select(User.id).where(User.email == email)) is not None:
                # Never let an external token take over an account registered here.
                raise AppError(ErrorCode.AUTHENTICATION_ERROR, "an account with this e-mail exists here; sign in with its password",
                               {"reason": "account_exists"})
            invitation = await invitations.open_for(session, email)
            if invitation is not None:  # an admin invited this (verified) address: their organisation and role
                tenant_id, role = invitation.tenant_id, invitation.role
            elif getattr(settings, "registration", "open") == "closed":
                raise AppError(ErrorCode.AUTHENTICATION_ERROR, "sign-up is closed here; ask your organisation's admin for an invitation",
                               {"reason": "registration_closed"})
            else:
                tenant_id = str(claims.get(settings.oidc_tenant_claim, "")) if settings.oidc_tenant_claim else ""
                if not tenant_id or await session.get(Tenant, tenant_id) is None:
                    tenant_id = settings.oidc_default_tenant
                role = str(claims.get(settings.oidc_role_claim, "")) if settings.oidc_role_claim else ""
                role = role if role in ROLES else "member"
            now = utcnow()
            user = User(id=new_id("usr"), email=email, password_hash="!external", tenant_id=tenant_id, role=role,
                        is_active=True, session_epoch=0, external_subject=subject, created_at=now)
            session.add(user)
            via = "oidc"
            if invitation is not None:
                if not await invitations.claim_for(session, invitation.id, user.id, now):
                    await session.rollback()  # accepted, revoked or expired meanwhile: the next sign-in decides again
                    raise AppError(ErrorCode.CONFLICT, "could not create the account; try again")
                via = "oidc_invitation"
                session.add(audit.event(tenant_id=tenant_id, actor_id=user.id, actor_kind="user", action="invitation.accept",
                                        target_type="invitation", target_id=invitation.id,
                                        details={"role": role, "invited_by": invitation.created_by, "via": "oidc"}))
            session.add(audit.event(tenant_id=tenant_id, actor_id=user.id, actor_kind="user", action="user.register",
                                    target_type="user", target_id=user.id, details={"role": role, "via": via}))
            try:
                await session.commit()
            except IntegrityError:  # the same person's first two requests raced: the other one won
                await session.rollback()
                existing = await session.scalar(select(User.id).where(User.external_subject == subject))
                if existing is None:
                    raise AppError(ErrorCode.CONFLICT, "could not create the account; try again") from None
                return existing
            return user.id

    async def from_api_key(self, raw: str) -> Principal:
        digest = hashlib.sha256(raw.encode()).hexdigest()
        now = time.monotonic()
        cached = self._keys.get(digest)
        if cached is None or now - cached.checked >= self.recheck:
            cached = await self._load_key(raw, now)
            if len(self._keys) >= self.cache_size:
                self._keys.clear()
            self._keys[digest] = cached
        if cached.principal is None or time.time() >= cached.expires:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid API key")
        return cached.principal

    async def _load_key(self, raw: str, now: float) -> _KeyState:
        refused = _KeyState(None, 0.0, now)
        match = _KEY_FORMAT.match(raw)
        if match is None:
            return refused
        key_id = f"key_{match.group(1)}"
        secret_digest = hashlib.sha256(match.group(2).encode()).hexdigest()
        async with self.sessions() as session:
            row = (await session.execute(
                select(ApiKey, User.is_active, User.role, User.tenant_id).join(User, User.id == ApiKey.user_id).where(ApiKey.id == key_id)
            )).first()
            if row is None:
                return refused
            key, active, role, tenant_id = row
            if not hmac.compare_digest(key.secret_sha256, secret_digest) or key.revoked_at is not None or not active:
                return refused
            if tenant_id != key.tenant_id:  # the account moved: a key stays with its tenant
                return refused
            wall = datetime.now(UTC)
            if key.expires_at is not None and key.expires_at <= wall:
                return refused
            if key.last_used_at is None or wall - key.last_used_at > _LAST_USED_EVERY:
                await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=wall))
                await session.commit()
            expires = key.expires_at.timestamp() if key.expires_at is not None else float("inf")
            principal = Principal(key.user_id, key.tenant_id, role, key_permissions(list(key.scopes), role), key_id=key.id)
        return _KeyState(principal, expires, now)
