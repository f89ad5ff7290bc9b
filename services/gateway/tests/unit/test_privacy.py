"""Who may export or erase whose data: refused before any store is touched (no downstream
service is reachable here, so a refusal that came late would fail differently)."""

from __future__ import annotations

import pytest

from chatbot_common.errors import AppError, ErrorCode
from gateway.identity import roles, users
from gateway.identity.accounts import Accounts
from gateway.privacy import Privacy
from gateway.security import Principal

PASSWORD = "correct horse battery"


@pytest.fixture
def privacy(sessions, passwords) -> Privacy:
    # Nothing downstream: every case here must be decided by the gateway's own tables.
    return Privacy(settings=None, sessions=sessions, downstream=None, blobs=None, limits=None, accounts=Accounts(sessions),
                   issuer=None, passwords=passwords)


@pytest.fixture
async def admin(sessions, passwords, origin) -> Principal:
    async with sessions() as session:
        user = await users.register(session, passwords, email="admin@acme.example", password=PASSWORD, organization="Acme",
                                    open_signup=True, min_length=8, request=origin)
    return Principal(user.id, user.tenant_id, "admin", roles.role_permissions("admin"))


async def _refusal(call) -> AppError:
    with pytest.raises(AppError) as refused:
        await call
    return refused.value


async def test_an_api_key_cannot_export_or_erase(privacy, admin, origin):
    key = Principal(admin.user_id, admin.tenant_id, "admin", admin.permissions, key_id="key_" + "1" * 32)
    for call in (privacy.export_own(key, origin), privacy.erase_own(key, PASSWORD, origin)):
        assert (await _refusal(call)).code is ErrorCode.PERMISSION_DENIED


async def test_erasing_oneself_needs_the_password(privacy, admin, origin):
    for password in (None, "not my password"):
        refused = await _refusal(privacy.erase_own(admin, password, origin))
        assert (refused.code, refused.message) == (ErrorCode.AUTHENTICATION_ERROR, "password is wrong")


async def test_the_last_admin_cannot_erase_themselves_away_from_their_people(sessions, privacy, admin, origin):
    async with sessions() as session:
        await users.create(session, "bob@acme.example", "!", admin.tenant_id, "member")
        await session.commit()
    assert (await _refusal(privacy.erase_own(admin, PASSWORD, origin))).code is ErrorCode.CONFLICT
    assert (await _refusal(privacy.erase_member(admin, admin.user_id, origin))).code is ErrorCode.CONFLICT


async def test_an_admin_reaches_only_their_own_organisations_accounts(sessions, passwords, privacy, admin, origin):
    async with sessions() as session:
        other = await users.register(session, passwords, email="eve@evil.example", password=PASSWORD, organization="Evil",
                                     open_signup=True, min_length=8, request=origin)
    for call in (privacy.export_member(admin, other.id, origin), privacy.erase_member(admin, other.id, origin),
                 privacy.export_member(admin, "usr_" + "0" * 32, origin)):
        assert (await _refusal(call)).to_body()["error"] == {"code": "NOT_FOUND", "message": "user not found", "details": {}}
    assert await privacy.erase_user("usr_" + "0" * 32) == {}  # nobody to erase: nothing is asked of anyone


async def test_erasing_an_admin_revokes_the_invitations_they_sent_before_any_other_store(sessions, privacy, admin, origin):
    """The first step (account disabled, sessions ended) revokes them too, so they are dead even
    when a downstream store then fails (none is reachable here)."""
    from datetime import timedelta

    from chatbot_common.db import utcnow
    from gateway.identity import invitations
    from gateway.models import Invitation

    async with sessions() as session:
        other = await users.create(session, "bea@acme.example", "!", admin.tenant_id, "admin")
        invitation, _ = await invitations.create(session, tenant_id=admin.tenant_id, email="grace@example.com", role="member",
                                                 created_by=other.id, expires_at=utcnow() + timedelta(days=7))
        await session.commit()
    with pytest.raises(AttributeError):  # downstream is None: the erasure stops after its first step
        await privacy.erase_user(other.id)
    async with sessions() as session:
        assert invitations.state_of(await session.get(Invitation, invitation.id)) == "revoked"
