"""Invitations over real HTTP: an admin invites an address with a role; the link's token works
once, until it expires or is revoked; the person who accepts it is signed in, in the admin's
organisation, with that role; each step is in the audit log. Members cannot invite, and the
accept route answers every refusal alike but for the invitation's own state."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from e2e_support import NO_RATE_LIMITS, auth, register_and_login, start_gateways

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
TOKEN = r"cbi_[A-Za-z0-9_-]{43}"


def _address(prefix: str = "invitee") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def _invite(http: httpx.Client, admin: dict, email: str, role: str = "member", **extra) -> dict:
    reply = http.post("/api/v1/admin/invitations", headers=auth(admin), json={"email": email, "role": role, **extra})
    assert reply.status_code == 201, reply.text
    return reply.json()


def _accept(http: httpx.Client, token: str, name: str = "Grace Hopper", password: str = PASSWORD, **headers) -> httpx.Response:
    return http.post("/api/v1/auth/invitations/accept", json={"token": token, "name": name, "password": password}, headers=headers)


def _refused(reply: httpx.Response, reason: str) -> None:
    assert reply.status_code == 404, reply.text
    error = reply.json()["error"]
    assert error["code"] == "NOT_FOUND" and error["details"] == {"reason": reason}, error


def _audit(http: httpx.Client, admin: dict, action: str) -> list[dict]:
    reply = http.get("/api/v1/admin/audit", headers=auth(admin), params={"action": action})
    assert reply.status_code == 200, reply.text
    return reply.json()["events"]


def _state(http: httpx.Client, admin: dict, invitation_id: str) -> dict:
    listed = http.get("/api/v1/admin/invitations", headers=auth(admin)).json()["invitations"]
    return next(i for i in listed if i["id"] == invitation_id)


def test_an_invited_person_joins_with_the_role_and_the_link_works_once(fleet, http, alice):
    email = _address()
    created = _invite(http, alice, email.upper(), role="viewer")  # addresses are compared in lower case
    token = created["token"]
    assert re.fullmatch(TOKEN, token)
    # the link is the app's, with the token in the fragment (never sent to a server)
    assert created["url"] == f"{fleet.url}/#/invite/{token}"
    assert created["email"] == email and created["role"] == "viewer" and created["state"] == "pending"
    listed = _state(http, alice, created["id"])
    assert listed["state"] == "pending" and "token" not in listed and "url" not in listed  # shown once
    [entry] = [e for e in _audit(http, alice, "invitation.create") if e["target_id"] == created["id"]]
    assert email not in str(entry) and entry["details"]["role"] == "viewer"  # the log names no address

    preview = http.post("/api/v1/auth/invitations/inspect", json={"token": token})
    assert preview.status_code == 200, preview.text
    me = http.get("/api/v1/me", headers=auth(alice)).json()
    assert preview.json()["email"] == email and preview.json()["role"] == "viewer"
    assert preview.json()["organization"] == me["tenant_name"]

    accepted = _accept(http, token, name="  Grace   Hopper ")
    assert accepted.status_code == 201, accepted.text
    tokens = accepted.json()
    joined = http.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert joined["email"] == email and joined["role"] == "viewer" and joined["tenant_id"] == me["tenant_id"]
    assert "admin" not in joined["permissions"]
    users = http.get("/api/v1/admin/users", headers=auth(alice)).json()["users"]
    assert {"email": email, "name": "Grace Hopper", "role": "viewer"}.items() <= next(u for u in users if u["email"] == email).items()
    # the password chosen signs in, and the refresh token works
    assert http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 200

    # used once: the same link again is refused, to look at and to accept
    _refused(_accept(http, token, name="Someone Else"), "used")
    _refused(http.post("/api/v1/auth/invitations/inspect", json={"token": token}), "used")
    after = _state(http, alice, created["id"])
    assert after["state"] == "accepted" and after["user_id"] == joined["id"]
    [accept] = [e for e in _audit(http, alice, "invitation.accept") if e["outcome"] == "success" and e["target_id"] == created["id"]]
    assert accept["actor_id"] == joined["id"]
    assert [e for e in _audit(http, alice, "invitation.accept") if e["outcome"] == "failure" and e["target_id"] == created["id"]]
    # revoking an accepted invitation is a conflict: the account is there (disable it instead)
    conflict = http.delete(f"/api/v1/admin/invitations/{created['id']}", headers=auth(alice))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "CONFLICT"


def test_a_browser_accepts_in_cookie_mode_and_is_signed_in(fleet, http, alice):
    created = _invite(http, alice, _address())
    with httpx.Client(base_url=fleet.url, timeout=30, headers={"Origin": fleet.url}) as browser:
        reply = _accept(browser, created["token"], **{"X-Auth-Session": "cookie"})
        assert reply.status_code == 201, reply.text
        assert "refresh_token" not in reply.json() and browser.cookies["chatbot_refresh"]
        assert browser.post("/api/v1/auth/refresh", headers={"X-Auth-Session": "cookie"}).status_code == 200
    # another site cannot sign a browser in through someone's link
    other = _invite(http, alice, _address())
    with httpx.Client(base_url=fleet.url, timeout=30) as browser:
        refused = _accept(browser, other["token"], **{"X-Auth-Session": "cookie", "Origin": "https://evil.example"})
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert _state(http, alice, other["id"])["state"] == "pending"


def test_a_revoked_invitation_is_refused(http, alice):
    created = _invite(http, alice, _address())
    revoked = http.delete(f"/api/v1/admin/invitations/{created['id']}", headers=auth(alice))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    _refused(_accept(http, created["token"]), "revoked")
    _refused(http.post("/api/v1/auth/invitations/inspect", json={"token": created["token"]}), "revoked")
    # revoking again changes nothing and is audited once
    assert http.delete(f"/api/v1/admin/invitations/{created['id']}", headers=auth(alice)).status_code == 200
    assert len([e for e in _audit(http, alice, "invitation.revoke") if e["target_id"] == created["id"]]) == 1
    # the address may be invited again once the open invitation is revoked
    assert _invite(http, alice, created["email"])["state"] == "pending"


def test_invitations_that_cannot_be_made_are_refused_clearly(http, alice, bob):
    # bob is alice's colleague (a member): he cannot invite, in the one error shape
    email = _address()
    denied = http.post("/api/v1/admin/invitations", headers=auth(bob), json={"email": email, "role": "member"})
    assert denied.status_code == 403
    assert denied.json() == {"error": {"code": "PERMISSION_DENIED", "message": denied.json()["error"]["message"],
                                       "details": {"permission": "admin"}}}
    assert http.get("/api/v1/admin/invitations", headers=auth(bob)).status_code == 403
    # an address with an account in this organisation, or in another one
    member = http.post("/api/v1/admin/invitations", headers=auth(alice), json={"email": bob["_email"]})
    assert member.status_code == 409 and member.json()["error"]["details"]["reason"] == "member"
    stranger = register_and_login(http)
    elsewhere = http.post("/api/v1/admin/invitations", headers=auth(alice), json={"email": stranger["_email"]})
    assert elsewhere.status_code == 409 and elsewhere.json()["error"]["details"]["reason"] == "other_organisation"
    # the same address twice while the first is open
    first = _invite(http, alice, email)
    twice = http.post("/api/v1/admin/invitations", headers=auth(alice), json={"email": email})
    assert twice.status_code == 409 and twice.json()["error"]["details"] == {
        "field": "email", "reason": "invited", "invitation_id": first["id"]}
    # bad input: 400 in the one shape, never a 500
    for body in ({"email": "not an address"}, {"email": _address(), "role": "owner"}, {"email": _address(), "expires_in_days": 0},
                 {"email": _address(), "expires_in_days": 91}, {"email": _address(), "extra": 1}):
        reply = http.post("/api/v1/admin/invitations", headers=auth(alice), json=body)
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "VALIDATION_ERROR", (body, reply.text)
    assert http.delete("/api/v1/admin/invitations/inv_" + "0" * 32, headers=auth(alice)).status_code == 404
    # another organisation's admin sees nothing of alice's invitations
    assert http.delete(f"/api/v1/admin/invitations/{first['id']}", headers=auth(stranger)).status_code == 404
    assert http.get("/api/v1/admin/invitations", headers=auth(stranger)).json()["invitations"] == []


def test_the_accept_route_refuses_bad_tokens_and_weak_passwords_without_using_the_link(http, alice):
    created = _invite(http, alice, _address())
    for token in ("", "cbi_short", "x" * 47, "cbi_" + "a" * 42 + "!"):
        reply = _accept(http, token)
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "VALIDATION_ERROR", (token, reply.text)
    _refused(_accept(http, "cbi_" + "A" * 43), "unknown")
    weak = _accept(http, created["token"], password="short")
    assert weak.status_code == 400 and weak.json()["error"]["details"]["field"] == "password"
    blank = _accept(http, created["token"], name="   ")
    assert blank.status_code == 400 and blank.json()["error"]["code"] == "VALIDATION_ERROR"
    assert _state(http, alice, created["id"])["state"] == "pending"  # nothing used up
    assert _accept(http, created["token"]).status_code == 201


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    """Gateway processes of their own: invitation links that last three seconds, and sign-in
    limited to 12 requests a minute per client address."""
    env = {**NO_RATE_LIMITS, "GATEWAY_INVITATION_TTL_DAYS": repr(3 / 86_400), "GATEWAY_RATE_LIMIT_ANONYMOUS_REQUESTS": "12"}
    procs, [url] = start_gateways(tmp_path_factory.mktemp("invitations"), env)
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield http
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def test_an_expired_invitation_is_refused_and_accepting_is_limited_like_sign_in(short_lived):
    http = short_lived
    admin = register_and_login(http)  # two anonymous requests
    created = _invite(http, admin, _address())
    lasts = time.monotonic()
    # listed as expired once its time has passed (the admin's requests are not the anonymous ones)
    while _state(http, admin, created["id"])["state"] != "expired":
        assert time.monotonic() - lasts < 15, "the invitation did not expire"
        time.sleep(0.1)
    _refused(_accept(http, created["token"]), "expired")
    _refused(http.post("/api/v1/auth/invitations/inspect", json={"token": created["token"]}), "expired")
    # tries at a link are limited per client address like sign-in: 12 anonymous requests a minute
    replies = [_accept(http, "cbi_" + uuid.uuid4().hex + "A" * 11) for _ in range(12)]
    assert {r.status_code for r in replies} <= {404, 429} and replies[-1].status_code == 429
    limited = replies[-1]
    assert limited.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED" and int(limited.headers["retry-after"]) > 0
