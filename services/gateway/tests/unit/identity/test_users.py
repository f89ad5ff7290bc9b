"""Accounts: sign-up makes a new organisation with its registrant as admin, the password policy,
one account per e-mail, a tenant's ids, and the rule that an organisation keeps an admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from chatbot_common.errors import AppError, ErrorCode
from gateway.identity import tenants, users
from gateway.models import AuditEvent, Tenant

MIN = 12


async def _register(sessions, passwords, origin, email: str, organization: str | None = "Acme Corp"):
    async with sessions() as session:
        return await users.register(session, passwords, email=email, password="correct horse battery", organization=organization,
                                    open_signup=True, min_length=MIN, request=origin)


async def test_sign_up_creates_the_named_organisation_with_its_registrant_as_admin(sessions, passwords, origin):
    user = await _register(sessions, passwords, origin, "ada@example.com")

    async with sessions() as session:
        tenant = await session.get(Tenant, user.tenant_id)
        entries = (await session.scalars(select(AuditEvent))).all()
        assert await passwords.verify(await users.password_hash(session, user.id), "correct horse battery")
    assert (user.role, user.is_active, tenant.name) == ("admin", True, "Acme Corp")
    assert user.tenant_id.startswith("acme-corp-")
    assert [(e.action, e.actor_id, e.target_id, e.tenant_id, e.details, e.client_ip, e.request_id) for e in entries] == [
        ("user.register", user.id, user.id, user.tenant_id, {"role": "admin", "organization": "named"}, "203.0.113.7", "req-test")]


async def test_sign_up_without_an_organisation_is_private_never_a_shared_default(sessions, passwords, origin):
    first = await _register(sessions, passwords, origin, "a@example.com", organization=None)
    second = await _register(sessions, passwords, origin, "b@example.com", organization=None)
    assert first.tenant_id != second.tenant_id
    assert first.tenant_id.startswith("personal-") and second.role == "admin"


async def test_sign_up_refusals_write_nothing(sessions, passwords, origin):
    await _register(sessions, passwords, origin, "taken@example.com")
    async with sessions() as session:
        with pytest.raises(AppError) as closed:
            await users.register(session, passwords, email="new@example.com", password="correct horse battery", organization=None,
                                 open_signup=False, min_length=MIN, request=origin)
        with pytest.raises(AppError) as short:
            await users.register(session, passwords, email="new@example.com", password="short", organization=None,
                                 open_signup=True, min_length=MIN, request=origin)
        with pytest.raises(AppError) as taken:
            await users.register(session, passwords, email="taken@example.com", password="correct horse battery",
                                 organization="Other", open_signup=True, min_length=MIN, request=origin)
    assert closed.value.code is ErrorCode.PERMISSION_DENIED
    assert (short.value.code, short.value.details) == (ErrorCode.VALIDATION_ERROR, {"field": "password"})
    assert f"at least {MIN} characters" in short.value.message
    assert taken.value.code is ErrorCode.CONFLICT
    async with sessions() as session:
        assert await users.count(session, "nowhere") == 0
        assert "Other" not in (await session.scalars(select(Tenant.name))).all()  # the refused sign-up's organisation rolled back
        assert len((await session.scalars(select(AuditEvent))).all()) == 1


async def test_another_tenants_account_is_answered_like_a_missing_one(sessions, passwords, origin):
    ada = await _register(sessions, passwords, origin, "ada@example.com")
    eve = await _register(sessions, passwords, origin, "eve@example.com", organization="Evil")
    async with sessions() as session:
        assert (await users.in_tenant(session, ada.tenant_id, ada.id)).email == "ada@example.com"
        errors = []
        for user_id in (eve.id, "usr_" + "0" * 32):
            with pytest.raises(AppError) as refused:
                await users.in_tenant(session, ada.tenant_id, user_id)
            errors.append(refused.value.to_body())
    assert errors[0] == errors[1] == {"error": {"code": "NOT_FOUND", "message": "user not found", "details": {}}}


async def test_the_last_admin_cannot_leave_people_behind(sessions, passwords, origin):
    admin = await _register(sessions, passwords, origin, "admin@example.com")
    async with sessions() as session:
        await users.ensure_not_last_admin(session, admin)  # alone: may leave
        member = await users.create(session, "member@example.com", "!", admin.tenant_id, "member")
        await session.commit()
        await users.ensure_not_last_admin(session, member)  # a member may always leave
        with pytest.raises(AppError) as refused:
            await users.ensure_not_last_admin(session, admin)
        assert refused.value.code is ErrorCode.CONFLICT
        member.role = "admin"
        await session.commit()
        await users.ensure_not_last_admin(session, admin)
        assert await users.active_admins(session, admin.tenant_id) == 2
        assert await users.active_admins(session, admin.tenant_id, besides=admin.id) == 1


async def test_a_password_is_replaced_only_over_the_hash_that_was_verified(sessions, passwords, origin):
    user = await _register(sessions, passwords, origin, "ada@example.com")
    async with sessions() as session:
        verified = await users.password_hash(session, user.id)
        assert await users.replace_password_hash(session, user.id, verified, "new-hash-1")
        assert not await users.replace_password_hash(session, user.id, verified, "new-hash-2")  # changed meanwhile
        await session.commit()
        assert await users.password_hash(session, user.id) == "new-hash-1"


async def test_profile_names_the_organisation(sessions, passwords, origin):
    user = await _register(sessions, passwords, origin, "ada@example.com")
    async with sessions() as session:
        found, tenant_name = await users.profile(session, user.id)
        assert (found.email, tenant_name) == ("ada@example.com", "Acme Corp")
        with pytest.raises(AppError) as gone:
            await users.profile(session, "usr_" + "0" * 32)
    assert gone.value.code is ErrorCode.AUTHENTICATION_ERROR


async def test_a_tenant_change_reports_what_it_replaced(sessions, passwords, origin):
    user = await _register(sessions, passwords, origin, "ada@example.com")
    async with sessions() as session:
        tenant = await tenants.load(session, user.tenant_id)
        before = tenants.change(tenant, {"injection_policy": "flag", "tokens_per_minute": 500})
        await session.commit()
    assert before == {"injection_policy": "block", "tokens_per_minute": 0}
    async with sessions() as session:
        tenant = await tenants.load(session, user.tenant_id)
        assert (tenant.injection_policy, tenant.tokens_per_minute) == ("flag", 500)
