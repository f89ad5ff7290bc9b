"""Who an external issuer may create an account for (`Accounts.from_oidc`, shared by browser
sign-in and bearer tokens): a verified address only, in an allowed domain, and with registration
closed only an account linked before or one an admin invited."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from gateway.identity import invitations, users
from gateway.identity.accounts import Accounts
from gateway.models import Invitation, User

PASSWORD = "correct horse battery"
ISSUER = "https://idp.example"


def _settings(**changes):
    base = dict(oidc_tenant_claim="", oidc_role_claim="", oidc_default_tenant="default", registration="open",
                oidc_trust_unverified_email=False, oidc_allowed_domains=[])
    return SimpleNamespace(**(base | changes))


def _claims(sub: str, email: str, **more) -> dict:
    return {"iss": ISSUER, "sub": sub, "email": email, **more}


async def _refused(accounts: Accounts, claims: dict, settings) -> str:
    with pytest.raises(AppError) as refused:
        await accounts.from_oidc(claims, settings)
    assert refused.value.code is ErrorCode.AUTHENTICATION_ERROR
    return refused.value.details["reason"]


async def _count(sessions, email: str) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(User).where(User.email == email))


async def test_an_unverified_address_gets_no_account(sessions):
    accounts = Accounts(sessions)
    assert await _refused(accounts, _claims("a", "a@example.com", email_verified=False), _settings()) == "email_unverified"
    assert await _refused(accounts, _claims("b", "b@example.com", email_verified="false"), _settings()) == "email_unverified"
    assert await _refused(accounts, _claims("c", "c@example.com"), _settings()) == "email_unverified"  # absent
    # False is refused even when the issuer is trusted to verify addresses it does not mark.
    trusting = _settings(oidc_trust_unverified_email=True)
    assert await _refused(accounts, _claims("a", "a@example.com", email_verified=False), trusting) == "email_unverified"
    assert await _count(sessions, "a@example.com") == 0
    assert (await accounts.from_oidc(_claims("c", "c@example.com"), trusting)).user_id
    assert (await accounts.from_oidc(_claims("d", "d@example.com", email_verified="true"), _settings())).user_id
    assert (await accounts.from_oidc(_claims("e", "e@example.com", email_verified=True), _settings())).user_id


async def test_only_allowed_domains_get_accounts(sessions):
    accounts = Accounts(sessions)
    settings = _settings(oidc_allowed_domains=["Example.com", "@corp.example"])
    for email in ("x@evil.example", "x@sub.example.com", "x@example.com.evil.example"):
        assert await _refused(accounts, _claims(email, email, email_verified=True), settings) == "domain"
    for email in ("y@example.com", "Z@CORP.example"):
        assert (await accounts.from_oidc(_claims(email, email, email_verified=True), settings)).user_id


async def test_with_registration_closed_only_linked_or_invited_people_sign_in(sessions, passwords, origin):
    accounts = Accounts(sessions)
    linked = await accounts.from_oidc(_claims("old", "old@example.com", email_verified=True), _settings())
    closed = _settings(registration="closed")
    assert await _refused(accounts, _claims("new", "new@example.com", email_verified=True), closed) == "registration_closed"
    assert await _count(sessions, "new@example.com") == 0
    # The account linked before still signs in (a new Accounts: no cached subject).
    assert (await Accounts(sessions).from_oidc(_claims("old", "old@example.com", email_verified=True), closed)).user_id == linked.user_id

    async with sessions() as session:
        admin = await users.register(session, passwords, email="ada@example.com", password=PASSWORD, organization="Acme",
                                     open_signup=True, min_length=8, request=origin)
    async with sessions() as session:
        invitation, _ = await invitations.create(session, tenant_id=admin.tenant_id, email="new@example.com", role="viewer",
                                                 created_by=admin.id, expires_at=utcnow() + timedelta(days=7))
        await session.commit()
    # An invitation names an address: an unverified one never claims it.
    assert await _refused(accounts, _claims("new", "new@example.com"), closed) == "email_unverified"
    principal = await accounts.from_oidc(_claims("new", "new@example.com", email_verified=True), closed)
    assert (principal.tenant_id, principal.role) == (admin.tenant_id, "viewer")  # the invitation's, not a claim's
    async with sessions() as session:
        stored = await session.get(Invitation, invitation.id)
        assert invitations.state_of(stored) == "accepted" and stored.user_id == principal.user_id


async def test_an_invitation_from_someone_no_longer_an_admin_opens_nothing(sessions, passwords, origin):
    async with sessions() as session:
        admin = await users.register(session, passwords, email="ada@example.com", password=PASSWORD, organization="Acme",
                                     open_signup=True, min_length=8, request=origin)
    async with sessions() as session:
        await invitations.create(session, tenant_id=admin.tenant_id, email="new@example.com", role="admin",
                                 created_by=admin.id, expires_at=utcnow() + timedelta(days=7))
        (await session.get(User, admin.id)).role = "member"
        await session.commit()
    closed = _settings(registration="closed")
    assert await _refused(Accounts(sessions), _claims("new", "new@example.com", email_verified=True), closed) == "registration_closed"
