"""Invitations (the `invitations` table): an admin invites an e-mail address into the tenant with
a role; the person opens the link, gives a name and a password, and is signed in with that role.

The link carries `cbi_` and 256 random bits; only the SHA-256 is kept, and it is good once, until
it expires or is revoked. Accepting names no e-mail address and answers every refusal the same
way but for the invitation's own state (used, revoked, expired), so it never tells whether an
address has an account. Accepting reads the invitation in a short session, hashes the password
with no connection held, then claims the invitation with a conditional update (two accepts at
once: one wins) in the transaction that creates the account and audits it.

An invitation speaks for the admin who made it: when they are demoted, disabled or erased their
open invitations are revoked, and opening or accepting one checks that its creator is still an
active admin of the organisation (else it is revoked then and refused as such)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from gateway import audit
from gateway.identity import sessions, tenants, users
from gateway.identity.sessions import IssuedTokens
from gateway.models import Invitation, User
from gateway.security import PasswordHashing, TokenIssuer

TOKEN_PREFIX = "cbi_"
TOKEN_PATTERN = r"^cbi_[A-Za-z0-9_-]{43}$"
State = Literal["pending", "accepted", "revoked", "expired"]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def state_of(invitation: Invitation, now: datetime | None = None) -> State:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if invitation.expires_at <= (now or utcnow()) else "pending"


def _still_open(now: datetime):
    return (Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now)


def _inviter_still_admin():
    """The invitation's creator is still an active admin of its organisation: an invitation
    speaks for its admin, and stops when they no longer may invite."""
    return exists(select(User.id).where(User.id == Invitation.created_by, User.tenant_id == Invitation.tenant_id,
                                        User.role == "admin", User.is_active.is_(True)))


async def _from_an_admin(session: AsyncSession, invitation: Invitation) -> bool:
    creator = await session.get(User, invitation.created_by)
    return (creator is not None and creator.is_active and creator.role == "admin"
            and creator.tenant_id == invitation.tenant_id)


async def open_for(session: AsyncSession, email: str) -> Invitation | None:
    """The newest open invitation of this address whose admin still is one (for a first external sign-in)."""
    rows = await session.scalars(select(Invitation).where(Invitation.email == email, *_still_open(utcnow()),
                                                          _inviter_still_admin()).order_by(Invitation.created_at.desc()).limit(1))
    return rows.first()


async def claim_for(session: AsyncSession, invitation_id: str, user_id: str, now: datetime) -> bool:
    """Marks the invitation accepted by this new account, if it is still open and its admin still
    is one (in the session's transaction); False when it no longer is."""
    claimed = await session.execute(update(Invitation).where(Invitation.id == invitation_id, *_still_open(now), _inviter_still_admin())
                                    .values(accepted_at=now, user_id=user_id))
    return claimed.rowcount == 1


async def revoke_created_by(session: AsyncSession, user_id: str) -> list[str]:
    """Revokes (in the session's transaction) the open invitations this person created, when
    they stop being an active admin (demoted, disabled, erased); their ids."""
    now = utcnow()
    ids = list(await session.scalars(select(Invitation.id).where(Invitation.created_by == user_id, *_still_open(now))))
    if ids:
        await session.execute(update(Invitation).where(Invitation.id.in_(ids), Invitation.revoked_at.is_(None))
                              .values(revoked_at=now))
    return ids


async def create(session: AsyncSession, *, tenant_id: str, email: str, role: str, created_by: str,
                 expires_at: datetime) -> tuple[Invitation, str]:
    """The invitation in the session's transaction, and its token (in this answer only).
    Refused (409) for an address that has an account, here or in another organisation, or
    that this organisation has invited already."""
    existing = await users.by_email(session, email)
    if existing is not None:
        if existing.tenant_id == tenant_id:
            raise AppError(ErrorCode.CONFLICT, "this address already has an account in your organisation",
                           {"field": "email", "reason": "member", "user_id": existing.id})
        raise AppError(ErrorCode.CONFLICT, "this address has an account in another organisation; an account belongs to one "
                       "organisation, so it cannot be invited here", {"field": "email", "reason": "other_organisation"})
    open_one = await session.scalar(select(Invitation.id).where(
        Invitation.tenant_id == tenant_id, Invitation.email == email, *_still_open(utcnow())))
    if open_one is not None:
        raise AppError(ErrorCode.CONFLICT, "this address has an open invitation already; revoke it to invite again",
                       {"field": "email", "reason": "invited", "invitation_id": open_one})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    invitation = Invitation(id=new_id("inv"), tenant_id=tenant_id, email=email, role=role, token_sha256=_digest(token),
                            created_by=created_by, created_at=utcnow(), expires_at=expires_at)
    session.add(invitation)
    return invitation, token


async def page(session: AsyncSession, tenant_id: str, state: State | None, limit: int, offset: int) -> tuple[int, list[Invitation]]:
    now = utcnow()
    where = [Invitation.tenant_id == tenant_id]
    if state == "pending":
        where += _still_open(now)
    elif state == "accepted":
        where.append(Invitation.accepted_at.is_not(None))
    elif state == "revoked":
        where += [Invitation.accepted_at.is_(None), Invitation.revoked_at.is_not(None)]
    elif state == "expired":
        where += [Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at <= now]
    total = await session.scalar(select(func.count()).select_from(Invitation).where(*where)) or 0
    rows = await session.scalars(select(Invitation).where(*where).order_by(Invitation.created_at.desc(), Invitation.id)
                                 .limit(limit).offset(offset))
    return total, list(rows)


async def in_tenant(session: AsyncSession, tenant_id: str, invitation_id: str) -> Invitation:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.tenant_id != tenant_id:
        raise AppError(ErrorCode.NOT_FOUND, "invitation not found")
    return invitation


def revoke(invitation: Invitation) -> bool:
    """False when it was revoked already; an accepted invitation cannot be (the account is there: disable it)."""
    if invitation.accepted_at is not None:
        raise AppError(ErrorCode.CONFLICT, "the invitation was accepted; disable the account instead", {"reason": "accepted"})
    if invitation.revoked_at is not None:
        return False
    invitation.revoked_at = utcnow()
    return True


async def remove_of(session: AsyncSession, user: User) -> int:
    """An erased person's invitations (they name the address)."""
    return (await session.execute(delete(Invitation).where(or_(Invitation.user_id == user.id, Invitation.email == user.email)))).rowcount


# --- the invitee's side -------------------------------------------------------------------------

def _refused(reason: str) -> AppError:
    return AppError(ErrorCode.NOT_FOUND, "this invitation link cannot be used: it may have been used already, revoked or "
                    "expired. Ask your organisation's admin for a new one.", {"reason": reason})


async def _usable(sessions_: async_sessionmaker, token: str, request: audit.Origin) -> tuple[Invitation, str]:
    """The open invitation the token belongs to and its organisation's name; every refusal is
    audited (the token never is)."""
    async with sessions_() as session:
        invitation = await session.scalar(select(Invitation).where(Invitation.token_sha256 == _digest(token))) \
            if re.fullmatch(TOKEN_PATTERN, token) else None
        state = state_of(invitation) if invitation is not None else "unknown"
        if state == "pending" and not await _from_an_admin(session, invitation):
            state = "revoked"  # its admin no longer is one
            await session.execute(update(Invitation).where(Invitation.id == invitation.id, Invitation.revoked_at.is_(None))
                                  .values(revoked_at=utcnow()))
            await session.commit()
        tenant = await tenants.load(session, invitation.tenant_id) if state == "pending" else None
    if state != "pending":
        await _audit_refusal(sessions_, invitation, state, request)
        raise _refused("used" if state == "accepted" else state)
    return invitation, tenant.name if tenant else invitation.tenant_id


async def _audit_refusal(sessions_: async_sessionmaker, invitation: Invitation | None, reason: str, request: audit.Origin) -> None:
    await audit.write(sessions_, audit.event(
        tenant_id=invitation.tenant_id if invitation else "", actor_id="", actor_kind="anonymous", action="invitation.accept",
        target_type="invitation", target_id=invitation.id if invitation else "", outcome="failure", request=request,
        details={"reason": reason}))


async def inspect(sessions_: async_sessionmaker, token: str, request: audit.Origin) -> tuple[Invitation, str]:
    """The open invitation and the name of its organisation, for the screen that accepts it."""
    return await _usable(sessions_, token, request)


async def accept(sessions_: async_sessionmaker, passwords: PasswordHashing, issuer: TokenIssuer, *, token: str, name: str,
                 password: str, min_length: int, request: audit.Origin) -> tuple[User, IssuedTokens]:
    """Creates the account in the invitation's organisation with its role and signs it in."""
    invitation, _ = await _usable(sessions_, token, request)  # its session is released before hashing
    users.check_password_policy(password, min_length)
    password_hash = await passwords.hash(password)
    async with sessions_() as session:
        now = utcnow()
        claimed = await session.execute(update(Invitation).where(Invitation.id == invitation.id, *_still_open(now),
                                                                 _inviter_still_admin()).values(accepted_at=now))
        if claimed.rowcount != 1:  # accepted, revoked or expired meanwhile, or its admin no longer is one
            await session.rollback()
            current = await session.get(Invitation, invitation.id)
            state = state_of(current, now) if current is not None else "unknown"
            if state == "pending":  # open, so its creator stopped being an admin meanwhile
                await session.execute(update(Invitation).where(Invitation.id == invitation.id, Invitation.revoked_at.is_(None))
                                      .values(revoked_at=now))
                await session.commit()
                state = "revoked"
            await _audit_refusal(sessions_, current, state, request)
            raise _refused("used" if state in ("accepted", "pending") else state)
        user = User(id=new_id("usr"), email=invitation.email, name=name, password_hash=password_hash, tenant_id=invitation.tenant_id,
                    role=invitation.role, is_active=True, session_epoch=0, created_at=now)
        session.add(user)
        try:
            await session.flush()
        except IntegrityError:
            # The address got an account meanwhile (open sign-up). Answered like a used link: the
            # answer must not tell that an address has an account.
            await session.rollback()
            await _audit_refusal(sessions_, invitation, "address taken", request)
            raise _refused("used") from None
        await session.execute(update(Invitation).where(Invitation.id == invitation.id).values(user_id=user.id))
        audit.add(session, audit.event(tenant_id=invitation.tenant_id, actor_id=user.id, actor_kind="user", action="invitation.accept",
                                       target_type="invitation", target_id=invitation.id, request=request,
                                       details={"role": invitation.role, "invited_by": invitation.created_by}))
        audit.add(session, audit.event(tenant_id=invitation.tenant_id, actor_id=user.id, actor_kind="user", action="user.register",
                                       target_type="user", target_id=user.id, request=request,
                                       details={"role": invitation.role, "via": "invitation"}))
        return user, await sessions.issue(session, issuer, user)  # commits
