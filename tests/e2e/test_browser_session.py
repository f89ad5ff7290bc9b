"""The browser's session over real HTTP: the refresh token in an httpOnly, SameSite=Strict cookie
scoped to the auth routes (set on sign-in, rotated on refresh, cleared on sign-out), never in a
body; the cookie-authenticated refresh refuses other origins and needs its header; the JSON flow
is unchanged beside it."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e

COOKIE_MODE = {"X-Auth-Session": "cookie"}
PASSWORD = "correct horse battery"


def _account(http: httpx.Client) -> str:
    email = f"web-{uuid.uuid4().hex[:10]}@example.com"
    assert http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    return email


def _cookie_header(reply: httpx.Response) -> str:
    [header] = [v for k, v in reply.headers.multi_items() if k == "set-cookie" and v.startswith("chatbot_refresh=")]
    return header


def _browser(fleet) -> httpx.Client:
    # Same origin as the app, like the browser's fetch (it sends Origin on every POST).
    return httpx.Client(base_url=fleet.url, timeout=30, headers={"Origin": fleet.url})


def test_sign_in_sets_the_cookie_and_keeps_the_token_out_of_the_body(fleet, http):
    email = _account(http)
    with _browser(fleet) as browser:
        reply = browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        assert reply.status_code == 200, reply.text
        assert "refresh_token" not in reply.json() and reply.json()["access_token"]
        cookie = _cookie_header(reply).lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api/v1/auth" in cookie
        assert "secure" not in cookie  # plain HTTP on loopback; Secure under TLS
        me = browser.get("/api/v1/me", headers={"Authorization": f"Bearer {reply.json()['access_token']}"})
        assert me.json()["email"] == email
    # The JSON flow beside it is unchanged: the pair in the body, no cookie.
    plain = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert plain.json()["refresh_token"] and "set-cookie" not in plain.headers


def test_refresh_rotates_the_cookie_and_a_replayed_one_ends_the_session(fleet, http):
    email = _account(http)
    with _browser(fleet) as browser:
        browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        first = browser.cookies["chatbot_refresh"]
        renewed = browser.post("/api/v1/auth/refresh", headers=COOKIE_MODE)
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["access_token"] and "refresh_token" not in renewed.json()
        second = browser.cookies["chatbot_refresh"]
        assert second != first
    # A copy of the first cookie (stolen before the rotation) comes back: the family is revoked,
    # so the legitimate browser's current cookie stops working too.
    with _browser(fleet) as thief:
        thief.cookies.set("chatbot_refresh", first, path="/api/v1/auth")
        replay = thief.post("/api/v1/auth/refresh", headers=COOKIE_MODE)
        assert replay.status_code == 401 and replay.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    with _browser(fleet) as browser:
        browser.cookies.set("chatbot_refresh", second, path="/api/v1/auth")
        assert browser.post("/api/v1/auth/refresh", headers=COOKIE_MODE).status_code == 401


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_a_cookie_refresh_from_elsewhere_is_refused(fleet, http, headers):
    email = _account(http)
    with _browser(fleet) as browser:
        browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        refused = browser.post("/api/v1/auth/refresh", headers={**COOKIE_MODE, **headers})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "PERMISSION_DENIED"
        # The cookie is still good for the app itself: nothing was used up.
        assert browser.post("/api/v1/auth/refresh", headers=COOKIE_MODE).status_code == 200


def test_the_cookie_alone_does_not_refresh(fleet, http):
    email = _account(http)
    with _browser(fleet) as browser:
        browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        # No header: the JSON flow, which wants the token in the body.
        bare = browser.post("/api/v1/auth/refresh")
        assert bare.status_code == 400
        assert bare.json()["error"]["details"]["errors"][0]["field"] == "refresh_token"
    with _browser(fleet) as stranger:
        missing = stranger.post("/api/v1/auth/refresh", headers=COOKIE_MODE)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_cross_origin_sign_in_in_cookie_mode_is_refused(fleet, http):
    email = _account(http)
    with _browser(fleet) as browser:
        reply = browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                             headers={**COOKIE_MODE, "Origin": "https://evil.example"})
        assert reply.status_code == 403 and "set-cookie" not in reply.headers


def test_sign_out_clears_the_cookie_and_ends_the_session(fleet, http):
    email = _account(http)
    with _browser(fleet) as browser:
        token = browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE).json()
        cookie = browser.cookies["chatbot_refresh"]
        out = browser.post("/api/v1/auth/logout", headers={**COOKIE_MODE, "Authorization": f"Bearer {token['access_token']}"})
        assert out.status_code == 204
        cleared = _cookie_header(out).lower()
        assert "max-age=0" in cleared and "path=/api/v1/auth" in cleared
        assert "chatbot_refresh" not in browser.cookies
        browser.cookies.set("chatbot_refresh", cookie, path="/api/v1/auth")
        assert browser.post("/api/v1/auth/refresh", headers=COOKIE_MODE).status_code == 401


def test_a_planted_second_cookie_is_refused_and_a_dead_cookie_is_dropped(fleet, http):
    """A sibling site can set a cookie of the same name for the browser to send beside ours: two
    are refused, not guessed between. A cookie that no longer refreshes is cleared, so the
    browser stops sending it."""
    email = _account(http)
    with _browser(fleet) as browser:
        browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        mine = browser.cookies["chatbot_refresh"]
        doubled = browser.post("/api/v1/auth/refresh", headers={
            **COOKIE_MODE, "Cookie": f"chatbot_refresh=planted-by-a-sibling; chatbot_refresh={mine}"})
        assert doubled.status_code == 401 and doubled.json()["error"]["code"] == "AUTHENTICATION_ERROR"
        assert "max-age=0" in _cookie_header(doubled).lower()
    with _browser(fleet) as browser:
        browser.cookies.set("chatbot_refresh", "not-a-session", path="/api/v1/auth")
        dead = browser.post("/api/v1/auth/refresh", headers=COOKIE_MODE)
        assert dead.status_code == 401 and "max-age=0" in _cookie_header(dead).lower()


def test_a_browser_whose_access_token_expired_still_signs_out(fleet, http):
    """Sign-out with the session cookie alone (the access token gone or expired, as after a
    laptop's sleep): that session ends and the cookie is cleared, so the next person at the
    screen is not signed in by a reload."""
    email = _account(http)
    with _browser(fleet) as browser:
        browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        cookie = browser.cookies["chatbot_refresh"]
        out = browser.post("/api/v1/auth/logout", headers={**COOKIE_MODE, "Authorization": "Bearer expired.or.garbage"})
        assert out.status_code == 204, out.text
        assert "max-age=0" in _cookie_header(out).lower()
    with _browser(fleet) as browser:
        browser.cookies.set("chatbot_refresh", cookie, path="/api/v1/auth")
        assert browser.post("/api/v1/auth/refresh", headers=COOKIE_MODE).status_code == 401
    # without a good token or the cookie mode, sign-out is still refused
    assert http.post("/api/v1/auth/logout").status_code == 401
    assert http.post("/api/v1/auth/logout", headers={"Authorization": "Bearer nope"}).status_code == 401
