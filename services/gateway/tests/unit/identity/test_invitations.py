"""Invitations on the migrated tables (SQLite, and PostgreSQL as a contract test): the token is
kept only as a hash, two accepts of one link at once create one account, an address that got an
account meanwhile is refused like a used link, and refusals are audited without the token."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from gateway.identity import invitations, users
from gateway.keys import KeyRing
from gateway.models import AuditEvent, Invitation, User
from gateway.security import TokenIssuer

PASSWORD = "correct horse battery"


@pytest.fixture
def issuer(tmp_path) -> TokenIssuer:
    return TokenIssuer(KeyRing(tmp_path / "keys", create=True), "iss", "aud", access_ttl=60, refresh_ttl=600)


@pytest.fixture
async def admin(sessions, passwords, origin) -> User:
    async with sessions() as session:
        return await users.register(session, passwords, email="ada@example.com", password=PASSWORD, organization="Acme",
                                    open_signup=True, min_length=8, request=origin)


async def _invite(sessions, admin: User, email: str, expires_in: timedelta = timedelta(days=7)) -> tuple[Invitation, str]:
    async with sessions() as session:
        invitation, token = await invitations.create(session, tenant_id=admin.tenant_id, email=email, role="member",
                                                     created_by=admin.id, expires_at=utcnow() + expires_in)
        await session.commit()
        return invitation, token


async def _accept(sessions, passwords, issuer, origin, token: str, name: str = "Grace"):
    return await invitations.accept(sessions, passwords, issuer, token=token, name=name, password=PASSWORD, min_length=8,
                                    request=origin)


async def test_only_the_hash_of_the_token_is_kept(sessions, admin):
    invitation, token = await _invite(sessions, admin, "grace@example.com")
    async with sessions() as session:
        stored = await session.get(Invitation, invitation.id)
    assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str({c.name: getattr(stored, c.name) for c in Invitation.__table__.columns})


async def test_two_accepts_of_one_link_at_once_create_one_account(sessions, passwords, issuer, origin, admin):
    invitation, token = await _invite(sessions, admin, "grace@example.com")
    results = await asyncio.gather(*(_accept(sessions, passwords, issuer, origin, token, name=f"Grace {i}") for i in range(2)),
                                   return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AppError)]
    assert len(accepted) == 1 and len(refused) == 1, results
    assert refused[0].code is ErrorCode.NOT_FOUND and refused[0].details == {"reason": "used"}
    user, tokens = accepted[0]
    assert issuer.principal(tokens.access_token).user_id == user.id and user.tenant_id == admin.tenant_id
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User).where(User.email == "grace@example.com")) == 1
        assert (await session.get(Invitation, invitation.id)).user_id == user.id


async def test_an_address_that_got_an_account_meanwhile_is_refused_like_a_used_link(sessions, passwords, issuer, origin, admin):
    invitation, token = await _invite(sessions, admin, "grace@example.com")
    async with sessions() as session:  # open sign-up, after the invitation was made
        await users.register(session, passwords, email="grace@example.com", password=PASSWORD, organization=None,
                             open_signup=True, min_length=8, request=origin)
    with pytest.raises(AppError) as refused:
        await _accept(sessions, passwords, issuer, origin, token)
    assert refused.value.code is ErrorCode.NOT_FOUND and refused.value.details == {"reason": "used"}
    async with sessions() as session:
        assert (await session.get(Invitation, invitation.id)).accepted_at is None  # rolled back with the account
        entries = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.accept"))).all()
    assert [(e.outcome, e.details, e.target_id) for e in entries] == [("failure", {"reason": "address taken"}, invitation.id)]
    assert token not in str([e.details for e in entries])


async def test_an_expired_or_unknown_link_is_refused_and_audited(sessions, passwords, issuer, origin, admin):
    _, token = await _invite(sessions, admin, "grace@example.com", expires_in=timedelta(seconds=-1))
    for attempt, reason in ((token, "expired"), ("cbi_" + "A" * 43, "unknown"), ("not a token", "unknown")):
        with pytest.raises(AppError) as refused:
            await invitations.inspect(sessions, attempt, origin)
        assert refused.value.details == {"reason": reason}
    async with sessions() as session:
        reasons = (await session.scalars(select(AuditEvent.details).where(AuditEvent.action == "invitation.accept"))).all()
    assert [r["reason"] for r in reasons] == ["expired", "unknown", "unknown"]


async def _second_admin(sessions, passwords, admin: User) -> User:
    async with sessions() as session:
        user = await users.create(session, "bea@example.com", await passwords.hash(PASSWORD), admin.tenant_id, "admin")
        await session.commit()
        return user


def _as_admin(user: User):
    from gateway.identity.roles import role_permissions
    from gateway.security import Principal

    return Principal(user.id, user.tenant_id, "admin", role_permissions("admin"), epoch=0)


@pytest.mark.parametrize("change", [{"role": "member", "is_active": None}, {"role": None, "is_active": False}])
async def test_an_admin_demoted_or_disabled_takes_their_open_invitations_with_them(sessions, passwords, issuer, origin, admin,
                                                                                 change):
    from gateway import administration
    from gateway.identity.accounts import Accounts

    inviter = await _second_admin(sessions, passwords, admin)
    theirs, token = await _invite(sessions, inviter, "grace@example.com")
    ours, our_token = await _invite(sessions, admin, "linus@example.com")
    async with sessions() as session:
        await administration.change_user(session, Accounts(sessions), _as_admin(admin), inviter.id, request=origin, **change)
    async with sessions() as session:
        assert invitations.state_of(await session.get(Invitation, theirs.id)) == "revoked"
        assert invitations.state_of(await session.get(Invitation, ours.id)) == "pending"  # another admin's stays
        revoked = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.revoke")))
        assert [e.target_id for e in revoked] == [theirs.id]
    with pytest.raises(AppError) as refused:
        await _accept(sessions, passwords, issuer, origin, token)
    assert refused.value.details == {"reason": "revoked"}
    user, _ = await _accept(sessions, passwords, issuer, origin, our_token, name="Linus")
    assert user.email == "linus@example.com"


async def test_an_invitation_whose_admin_no_longer_is_one_is_refused_at_accept(sessions, passwords, issuer, origin, admin):
    """However the creator stopped being an active admin (a change made around the revocation,
    an older invitation), accepting checks them again."""
    inviter = await _second_admin(sessions, passwords, admin)
    invitation, token = await _invite(sessions, inviter, "grace@example.com")
    async with sessions() as session:  # behind administration's back
        (await session.get(User, inviter.id)).role = "member"
        await session.commit()
    with pytest.raises(AppError) as refused:
        await invitations.inspect(sessions, token, origin)
    assert refused.value.code is ErrorCode.NOT_FOUND and refused.value.details == {"reason": "revoked"}
    with pytest.raises(AppError) as refused:
        await _accept(sessions, passwords, issuer, origin, token)
    assert refused.value.details == {"reason": "revoked"}
    async with sessions() as session:
        assert invitations.state_of(await session.get(Invitation, invitation.id)) == "revoked"
        assert await session.scalar(select(func.count()).select_from(User).where(User.email == "grace@example.com")) == 0


async def test_the_claim_itself_checks_the_inviter(sessions, passwords, issuer, origin, admin, monkeypatch):
    """The inviter is demoted between the link's check and the claim (while the password hashes)."""
    inviter = await _second_admin(sessions, passwords, admin)
    invitation, token = await _invite(sessions, inviter, "grace@example.com")
    real_hash = passwords.hash

    async def hash_then_demote(password):
        async with sessions() as session:
            (await session.get(User, inviter.id)).is_active = False
            await session.commit()
        return await real_hash(password)

    monkeypatch.setattr(passwords, "hash", hash_then_demote)
    with pytest.raises(AppError) as refused:
        await _accept(sessions, passwords, issuer, origin, token)
    assert refused.value.details == {"reason": "revoked"}
    async with sessions() as session:
        assert invitations.state_of(await session.get(Invitation, invitation.id)) == "revoked"
