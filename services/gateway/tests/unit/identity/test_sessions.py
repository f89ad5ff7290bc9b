"""Sessions: sign-in (audited, limited per account, the same answer for every refusal), refresh
tokens that rotate and revoke their family when a used one returns, sign-out everywhere, and a
password change that ends every other session."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.identity import sessions as signin, users
from gateway.identity.accounts import Accounts
from gateway.identity.tenants import TenantPolicies
from gateway.keys import KeyRing
from gateway.limits.backends import MemoryStore
from gateway.limits.limiter import Limits
from gateway.models import AuditEvent, RefreshToken
from gateway.security import Principal, TokenIssuer
from gateway.settings import GatewaySettings

PASSWORD = "correct horse battery"


@pytest.fixture
def issuer(tmp_path) -> TokenIssuer:
    return TokenIssuer(KeyRing(tmp_path / "keys", create=True), "iss", "aud", access_ttl=60, refresh_ttl=600)


@pytest.fixture
def limits(sessions) -> Limits:
    return Limits(GatewaySettings(login_failures_per_account=2), MemoryStore(), TenantPolicies(sessions))


@pytest.fixture
async def ada(sessions, passwords, origin):
    async with sessions() as session:
        return await users.register(session, passwords, email="ada@example.com", password=PASSWORD, organization="Acme",
                                    open_signup=True, min_length=8, request=origin)


async def _logins(sessions) -> list[tuple]:
    async with sessions() as session:
        rows = (await session.scalars(select(AuditEvent).where(AuditEvent.action.like("auth.%")).order_by(AuditEvent.id))).all()
    return [(e.action, e.outcome, e.actor_id, e.details) for e in rows]


async def _sign_in(sessions, limits, passwords, issuer, origin, email="ada@example.com", password=PASSWORD):
    return await signin.sign_in(sessions, limits, passwords, issuer, email=email, password=password, request=origin)


async def test_sign_in_issues_tokens_for_the_account_and_audits_it(sessions, limits, passwords, issuer, origin, ada):
    tokens = await _sign_in(sessions, limits, passwords, issuer, origin)
    assert issuer.principal(tokens.access_token) == Principal(ada.id, ada.tenant_id, "admin", epoch=0)
    assert issuer.decode(tokens.refresh_token, "refresh")["sub"] == ada.id
    assert tokens.expires_in == 60
    assert await _logins(sessions) == [("auth.login", "success", ada.id, {})]


async def test_every_failed_sign_in_gets_the_same_answer_and_its_own_audit_reason(sessions, limits, passwords, issuer, origin, ada):
    answers = []
    for email, password in (("ada@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)):
        with pytest.raises(AppError) as refused:
            await _sign_in(sessions, limits, passwords, issuer, origin, email, password)
        answers.append(refused.value.to_body())
    assert answers[0] == answers[1] == {"error": {"code": "AUTHENTICATION_ERROR", "message": "invalid email or password",
                                                  "details": {}}}
    assert await _logins(sessions) == [
        ("auth.login", "failure", ada.id, {"reason": "wrong password"}),
        ("auth.login", "failure", "", {"reason": "unknown account", "subject": audit.subject_hash("nobody@example.com")}),
    ]


async def test_too_many_failures_refuse_even_the_right_password(sessions, limits, passwords, issuer, origin, ada):
    for _ in range(2):
        with pytest.raises(AppError):
            await _sign_in(sessions, limits, passwords, issuer, origin, password="wrong password!")
    with pytest.raises(AppError) as refused:
        await _sign_in(sessions, limits, passwords, issuer, origin)
    assert refused.value.code is ErrorCode.RATE_LIMIT_EXCEEDED
    assert (await _logins(sessions))[-1] == ("auth.login", "blocked", ada.id, {"reason": "too many failed sign-ins"})


async def test_a_successful_sign_in_does_not_count_against_the_limit(sessions, limits, passwords, issuer, origin, ada):
    for _ in range(4):
        await _sign_in(sessions, limits, passwords, issuer, origin)


async def test_a_disabled_account_cannot_sign_in(sessions, limits, passwords, issuer, origin, ada):
    async with sessions() as session:
        (await users.get(session, ada.id)).is_active = False
        await session.commit()
    with pytest.raises(AppError) as refused:
        await _sign_in(sessions, limits, passwords, issuer, origin)
    assert refused.value.code is ErrorCode.AUTHENTICATION_ERROR
    assert (await _logins(sessions))[-1] == ("auth.login", "failure", ada.id, {"reason": "account disabled"})


async def test_a_refresh_token_rotates_and_a_used_one_coming_back_ends_the_family(sessions, limits, passwords, issuer, origin, ada):
    first = await _sign_in(sessions, limits, passwords, issuer, origin)
    async with sessions() as session:
        second = await signin.refresh(session, issuer, first.refresh_token, origin)
    assert issuer.principal(second.access_token).user_id == ada.id
    async with sessions() as session:
        with pytest.raises(AppError) as reused:
            await signin.refresh(session, issuer, first.refresh_token, origin)
    assert reused.value.message == "refresh token reused; session revoked"
    async with sessions() as session:
        with pytest.raises(AppError) as revoked:
            await signin.refresh(session, issuer, second.refresh_token, origin)  # the thief's copy ended the family
        assert all((await session.scalars(select(RefreshToken.revoked))).all())
    assert revoked.value.message == "refresh token revoked"
    assert (await _logins(sessions))[-1][:3] == ("auth.refresh_reuse", "blocked", ada.id)


async def test_sign_out_ends_every_session(sessions, limits, passwords, issuer, origin, ada):
    tokens = await _sign_in(sessions, limits, passwords, issuer, origin)
    accounts = Accounts(sessions, recheck_seconds=60)
    claimed = issuer.principal(tokens.access_token)
    await accounts.from_token(claimed)  # cached as valid
    async with sessions() as session:
        await signin.sign_out(session, accounts, Principal(ada.id, ada.tenant_id, "admin"), origin)
    with pytest.raises(AppError) as ended:
        await accounts.from_token(claimed)  # at once on this replica, despite the cache
    assert ended.value.message == "session ended; sign in again"
    async with sessions() as session:
        with pytest.raises(AppError):
            await signin.refresh(session, issuer, tokens.refresh_token, origin)
        with pytest.raises(AppError) as key:
            await signin.sign_out(session, accounts, Principal(ada.id, ada.tenant_id, "admin", key_id="key_1"), origin)
    assert key.value.code is ErrorCode.VALIDATION_ERROR


async def test_a_password_change_ends_the_other_sessions_and_hands_a_fresh_pair(sessions, limits, passwords, issuer, origin, ada):
    old = await _sign_in(sessions, limits, passwords, issuer, origin)
    accounts = Accounts(sessions, recheck_seconds=60)
    me = Principal(ada.id, ada.tenant_id, "admin")

    async def change(current: str, new: str):
        return await signin.change_password(sessions, passwords, issuer, accounts, me, current_password=current, new_password=new,
                                            min_length=8, request=origin)

    with pytest.raises(AppError) as wrong:
        await change("not my password", "a brand new secret")
    assert wrong.value.message == "current password is wrong"
    with pytest.raises(AppError) as short:
        await change(PASSWORD, "short")
    assert short.value.details == {"field": "password"}
    fresh = await change(PASSWORD, "a brand new secret")
    assert (await accounts.from_token(issuer.principal(fresh.access_token))).user_id == ada.id
    with pytest.raises(AppError):
        await accounts.from_token(issuer.principal(old.access_token))
    await _sign_in(sessions, limits, passwords, issuer, origin, password="a brand new secret")
    assert [entry[:2] for entry in await _logins(sessions)][-3:] == [
        ("auth.password_change", "failure"), ("auth.password_change", "success"), ("auth.login", "success")]


async def test_an_access_token_issued_near_the_sessions_end_ends_with_it(sessions, limits, passwords, issuer, origin, ada):
    """A family has 20 s left: the refresh hands an access token of 20 s at most, not the usual 60."""
    from datetime import timedelta

    import dataclasses

    issuer = dataclasses.replace(issuer, session_max_seconds=100)
    first = await _sign_in(sessions, limits, passwords, issuer, origin)
    async with sessions() as session:  # the family started 80 s ago
        for token in (await session.scalars(select(RefreshToken))).all():
            token.family_started_at = token.created_at - timedelta(seconds=80)
        await session.commit()
    async with sessions() as session:
        second = await signin.refresh(session, issuer, first.refresh_token, origin)
    claims = issuer.decode(second.access_token, "access")
    assert 15 <= claims["exp"] - claims["iat"] <= 20 and second.expires_in == claims["exp"] - claims["iat"]
    assert second.refresh_expires_in <= 21
