"""A session's longest lifetime over real HTTP: however often a browser's refresh cookie rotates,
the session (the family of rotated refresh tokens) ends GATEWAY_SESSION_MAX_DAYS after its
sign-in; the refresh is then refused and the cookie cleared, and signing in starts a new one.
Here the lifetime is four seconds, on gateway processes of their own."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from e2e_support import NO_RATE_LIMITS, start_gateways

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
COOKIE_MODE = {"X-Auth-Session": "cookie"}
LIFETIME = 4.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    env = {**NO_RATE_LIMITS, "GATEWAY_SESSION_MAX_DAYS": repr(LIFETIME / 86_400), "GATEWAY_REGISTRATION": "open"}
    procs, [url] = start_gateways(tmp_path_factory.mktemp("session-lifetime"), env)
    try:
        yield url
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def _set_cookie(reply: httpx.Response) -> str:
    [cookie] = [v for k, v in reply.headers.multi_items() if k == "set-cookie" and v.startswith("chatbot_refresh=")]
    return cookie


def _max_age(reply: httpx.Response) -> int:
    return int(re.search(r"Max-Age=(-?\d+)", _set_cookie(reply), re.IGNORECASE).group(1))


def _refresh(browser: httpx.Client, reply: httpx.Response) -> httpx.Response:
    """A refresh with the cookie the last answer set. Sent by hand: Python's cookie jar counts
    Max-Age from the whole second, so it would drop a cookie up to a second before a browser does."""
    value = _set_cookie(reply).split(";", 1)[0]
    return browser.post("/api/v1/auth/refresh", headers={**COOKIE_MODE, "Cookie": value})


def test_a_refreshed_session_still_ends_at_its_longest_lifetime(gateway):
    email = f"life-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=gateway, timeout=30, headers={"Origin": gateway}) as browser:
        assert browser.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
        # a session of the JSON flow, begun first: it ends no later than the browser's
        json_flow = httpx.post(f"{gateway}/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        signed_in = time.monotonic()
        login = browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        assert login.status_code == 200, login.text
        # the cookie never outlives the session, though a refresh token alone would last 7 days
        assert 0 < _max_age(login) <= LIFETIME

        refreshes, ages, reply = 0, [], login
        while True:
            reply = _refresh(browser, reply)
            elapsed = time.monotonic() - signed_in
            if reply.status_code != 200:
                break
            refreshes += 1
            ages.append(_max_age(reply))
            assert elapsed < LIFETIME + 2, "the session outlived its longest lifetime"
            time.sleep(0.25)  # the pace of a busy client renewing its token, not a wait for anything
        # refused once the lifetime has passed, not before, whatever the rotations
        assert elapsed >= LIFETIME - 0.5, (elapsed, refreshes, reply.text)
        assert refreshes >= 5
        assert ages == sorted(ages, reverse=True) and ages[-1] <= 2  # each new cookie lives only what is left
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "AUTHENTICATION_ERROR"
        assert _max_age(reply) == 0  # the dead cookie is cleared

        # the JSON flow's session ends too
        refused = httpx.post(f"{gateway}/api/v1/auth/refresh", json={"refresh_token": json_flow["refresh_token"]})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "AUTHENTICATION_ERROR"

        # signing in again starts a new session, with its own lifetime
        again = browser.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE)
        assert again.status_code == 200 and 0 < _max_age(again) <= LIFETIME
        assert _refresh(browser, again).status_code == 200
