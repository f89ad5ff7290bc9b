"""Tenant administration on the real schema: everything confined to the admin's tenant (another
tenant's id answered like a missing one), the organisation keeps an admin, each change audited
in its own transaction and seen at once by this replica's caches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatbot_common.errors import AppError, ErrorCode
from gateway import administration, audit
from gateway.identity import roles, users
from gateway.identity.accounts import Accounts
from gateway.identity.tenants import TenantPolicies
from gateway.security import Principal

PASSWORD = "correct horse battery"


async def _organisation(sessions, passwords, origin, email: str, name: str) -> Principal:
    async with sessions() as session:
        user = await users.register(session, passwords, email=email, password=PASSWORD, organization=name, open_signup=True,
                                    min_length=8, request=origin)
    return Principal(user.id, user.tenant_id, "admin", roles.role_permissions("admin"))


@pytest.fixture
async def admin(sessions, passwords, origin) -> Principal:
    return await _organisation(sessions, passwords, origin, "admin@acme.example", "Acme")


@pytest.fixture
async def stranger(sessions, passwords, origin) -> Principal:
    return await _organisation(sessions, passwords, origin, "admin@evil.example", "Evil")


async def _add(sessions, passwords, admin, origin, email: str, role: str = "member"):
    async with sessions() as session:
        return await administration.add_user(session, passwords, admin, email=email, password=PASSWORD, role=role, min_length=8,
                                             request=origin)


async def _entries(sessions, admin: Principal, **filters) -> list[tuple]:
    async with sessions() as session:
        _, rows = await administration.audit_log(session, admin, **({"action": None, "actor_id": None, "outcome": None,
                                                                       "since": None, "until": None} | filters),
                                                 limit=100, offset=0)
    return [(e.action, e.target_id, e.details) for e in rows]


async def test_users_are_added_to_and_listed_from_the_admins_tenant_only(sessions, passwords, origin, admin, stranger):
    bob = await _add(sessions, passwords, admin, origin, "bob@acme.example")
    await _add(sessions, passwords, stranger, origin, "mallory@evil.example")
    async with sessions() as session:
        total, page = await administration.list_users(session, admin, limit=1, offset=1)
    assert (bob.tenant_id, bob.role, total, [u.email for u in page]) == (admin.tenant_id, "member", 2, ["bob@acme.example"])
    assert (await _entries(sessions, admin, action="user.create")) == [("user.create", bob.id, {"role": "member"})]
    with pytest.raises(AppError) as taken:
        await _add(sessions, passwords, admin, origin, "mallory@evil.example")
    assert taken.value.code is ErrorCode.CONFLICT


async def test_another_tenants_user_and_key_are_not_found(sessions, passwords, origin, admin, stranger):
    async with sessions() as session:
        key, _ = await administration.create_key(session, stranger, name="theirs", scopes=["chat"],
                                                 expires_at=datetime.now(UTC) + timedelta(days=1), user_id=None, request=origin)
        accounts = Accounts(sessions)
        refusals = []
        for attempt in (
            administration.change_user(session, accounts, admin, stranger.user_id, role="member", is_active=None, request=origin),
            administration.create_key(session, admin, name="x", scopes=["chat"], expires_at=datetime.now(UTC) + timedelta(days=1),
                                      user_id=stranger.user_id, request=origin),
            administration.revoke_key(session, accounts, admin, key.id, origin),
        ):
            with pytest.raises(AppError) as refused:
                await attempt
            refusals.append(refused.value.code)
    assert refusals == [ErrorCode.NOT_FOUND] * 3
    async with sessions() as session:
        assert [k.revoked_at for k in await administration.list_keys(session, stranger)] == [None]
        assert await administration.list_keys(session, admin) == []


async def test_the_last_admin_is_neither_demoted_nor_disabled(sessions, passwords, origin, admin):
    accounts = Accounts(sessions)
    for change in ({"role": "member", "is_active": None}, {"role": None, "is_active": False}):
        async with sessions() as session:
            with pytest.raises(AppError) as refused:
                await administration.change_user(session, accounts, admin, admin.user_id, request=origin, **change)
        assert refused.value.code is ErrorCode.CONFLICT
    second = await _add(sessions, passwords, admin, origin, "second@acme.example", role="admin")
    async with sessions() as session:
        demoted = await administration.change_user(session, accounts, admin, admin.user_id, role="viewer", is_active=None,
                                                   request=origin)
    assert demoted.role == "viewer"
    async with sessions() as session:
        with pytest.raises(AppError):  # now the second one is the last
            await administration.change_user(session, accounts, admin, second.id, role=None, is_active=False, request=origin)
    assert (await _entries(sessions, admin, action="user.role_change")) == [
        ("user.role_change", admin.user_id, {"from": "admin", "to": "viewer"})]


async def test_disabling_ends_the_accounts_sessions_at_once(sessions, passwords, origin, admin):
    bob = await _add(sessions, passwords, admin, origin, "bob@acme.example")
    accounts = Accounts(sessions, recheck_seconds=60)
    seen = await accounts.from_token(Principal(bob.id, bob.tenant_id, "member", epoch=0))
    assert seen.can(roles.DOCUMENTS_WRITE)
    async with sessions() as session:
        await administration.change_user(session, accounts, admin, bob.id, role=None, is_active=False, request=origin)
    with pytest.raises(AppError) as refused:
        await accounts.from_token(Principal(bob.id, bob.tenant_id, "member", epoch=0))
    assert refused.value.message == "account disabled"
    async with sessions() as session:
        enabled = await administration.change_user(session, accounts, admin, bob.id, role=None, is_active=True, request=origin)
    assert enabled.is_active and enabled.session_epoch == 1  # the old tokens stay ended
    assert [e[0] for e in await _entries(sessions, admin, actor_id=admin.user_id)][:2] == ["user.enable", "user.disable"]


async def test_a_key_acts_for_its_account_within_its_scopes_until_revoked(sessions, passwords, origin, admin):
    viewer = await _add(sessions, passwords, admin, origin, "viewer@acme.example", role="viewer")
    expires = datetime.now(UTC) + timedelta(days=1)
    async with sessions() as session:
        key, raw = await administration.create_key(session, admin, name="ci", scopes=["documents:write", "chat", "chat"],
                                                   expires_at=expires, user_id=viewer.id, request=origin)
    accounts = Accounts(sessions, recheck_seconds=60)
    principal = await accounts.from_api_key(raw)
    # A key never grants more than its account holds: a viewer cannot write documents.
    assert (principal.user_id, principal.key_id, principal.permissions) == (viewer.id, key.id, frozenset({roles.CHAT}))
    assert (await _entries(sessions, admin, action="api_key.create")) == [
        ("api_key.create", key.id, {"scopes": ["chat", "documents:write"], "for": viewer.id, "expires_at": expires.isoformat()})]
    async with sessions() as session:
        await administration.revoke_key(session, accounts, admin, key.id, origin)
        await administration.revoke_key(session, accounts, admin, key.id, origin)  # again: nothing more to do
    with pytest.raises(AppError):
        await accounts.from_api_key(raw)
    assert len(await _entries(sessions, admin, action="api_key.revoke")) == 1


async def test_no_key_for_a_disabled_account(sessions, passwords, origin, admin):
    bob = await _add(sessions, passwords, admin, origin, "bob@acme.example")
    async with sessions() as session:
        await administration.change_user(session, Accounts(sessions), admin, bob.id, role=None, is_active=False, request=origin)
        with pytest.raises(AppError) as refused:
            await administration.create_key(session, admin, name="x", scopes=["chat"], expires_at=datetime.now(UTC) + timedelta(days=1),
                                            user_id=bob.id, request=origin)
    assert (refused.value.code, refused.value.details) == (ErrorCode.VALIDATION_ERROR, {"field": "user_id"})


async def test_a_policy_change_is_audited_and_applies_at_once_here(sessions, passwords, origin, admin):
    policies = TenantPolicies(sessions, recheck_seconds=60)
    assert (await policies.get(admin.tenant_id)).injection_policy == "block"
    async with sessions() as session:
        tenant, count = await administration.change_tenant(session, policies, admin, {}, origin)  # nothing asked, nothing written
        assert (tenant.name, count) == ("Acme", 1)
        await administration.change_tenant(session, policies, admin, {"injection_policy": "flag", "daily_token_budget": 1000}, origin)
    assert (await policies.get(admin.tenant_id)).injection_policy == "flag"
    assert (await _entries(sessions, admin, action="tenant.policy_change")) == [
        ("tenant.policy_change", admin.tenant_id, {"from": {"injection_policy": "block", "daily_token_budget": 0},
                                                   "to": {"injection_policy": "flag", "daily_token_budget": 1000}})]


async def test_the_audit_log_is_the_tenants_newest_first_and_takes_a_bare_time(sessions, passwords, origin, admin, stranger):
    async with sessions() as session:
        for action in ("doc.one", "doc.two"):
            audit.add(session, audit.by(admin, action, origin))
        audit.add(session, audit.by(stranger, "doc.theirs", origin))
        await session.commit()
    assert [e[0] for e in await _entries(sessions, admin, action=None)][:2] == ["doc.two", "doc.one"]
    assert "doc.theirs" not in [e[0] for e in await _entries(sessions, admin)]
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5)
    assert await _entries(sessions, admin, since=later) == []
    assert len(await _entries(sessions, admin, until=later, action="doc.one")) == 1
    async with sessions() as session:
        total, rows = await administration.audit_log(session, admin, action=None, actor_id=None, outcome="success", since=None,
                                                     until=None, limit=1, offset=0)
    assert total == 3 and len(rows) == 1  # user.register, doc.one, doc.two
