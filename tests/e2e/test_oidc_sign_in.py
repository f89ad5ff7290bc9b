"""Browser sign-in through the configured external OpenID Connect issuer, over HTTP: a small real
issuer on a free port (discovery, an authorization endpoint that approves at once, a token
endpoint that checks the secret, the PKCE verifier and single use, JWKS) and the gateway in
front. The happy path ends with the same browser session as a password sign-in (the refresh
cookie, then /auth/refresh); every attack and failure ends on the sign-in screen with a reason,
never a 5xx and never anything the issuer wrote."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from e2e_support import NO_RATE_LIMITS
from fleet import ROOT, free_port
from oidc_issuer import OidcIssuer

pytestmark = pytest.mark.e2e
CLIENT_ID, CLIENT_SECRET = "chatbot-web", "s3cret/with:odd+chars"
CALLBACK = "/api/v1/auth/oidc/callback"
PASSWORD = "correct horse battery"


class Gateway:
    """One gateway process with browser sign-in configured against `issuer` (no downstream
    services: sign-in is the gateway's alone)."""

    def __init__(self, var_dir, issuer: OidcIssuer, **env: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        issuer.redirect_uris.append(self.url + CALLBACK)
        environment = {**os.environ, "GATEWAY_VAR_DIR": str(var_dir), "GATEWAY_LOG_LEVEL": "warning", "GATEWAY_PORT": str(port),
                       **NO_RATE_LIMITS,
                       "GATEWAY_OIDC_ISSUER": issuer.url, "GATEWAY_OIDC_JWKS_URL": issuer.url + "/jwks",
                       "GATEWAY_OIDC_AUDIENCE": "chatbot-api", "GATEWAY_OIDC_CLIENT_ID": CLIENT_ID,
                       "GATEWAY_OIDC_CLIENT_SECRET": CLIENT_SECRET, "GATEWAY_OIDC_REDIRECT_URI": self.url + CALLBACK,
                       "GATEWAY_OIDC_DISPLAY_NAME": "Test IdP", "GATEWAY_OIDC_TENANT_CLAIM": "org",
                       "GATEWAY_OIDC_ROLE_CLAIM": "chatbot_role", **env}
        subprocess.run([sys.executable, "-m", "gateway", "migrate"], env=environment, check=True, cwd=ROOT)
        self.process = subprocess.Popen([sys.executable, "-m", "gateway"], env=environment, cwd=ROOT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=2):
                    break
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


class Browser:
    """What a browser does, step by step: its own cookies for the gateway; the issuer visited
    without them (it would keep its own)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway.url
        self.http = httpx.Client(base_url=gateway.url, timeout=30, follow_redirects=False)
        self.elsewhere = httpx.Client(timeout=30, follow_redirects=False)

    def begin(self, return_to: str | None = None) -> httpx.Response:
        return self.http.get("/api/v1/auth/oidc/login", params={"return_to": return_to} if return_to is not None else None)

    def at_issuer(self, authorization_url: str) -> str:
        """The issuer approves at once: where it sends the browser back."""
        reply = self.elsewhere.get(authorization_url)
        assert reply.status_code == 302, reply.text
        return reply.headers["location"]

    def back(self, callback_url: str) -> httpx.Response:
        parts = urlsplit(callback_url)
        assert f"{parts.scheme}://{parts.netloc}" == self.gateway and parts.path == CALLBACK
        reply = self.http.get(f"{parts.path}?{parts.query}")
        assert reply.status_code == 303, reply.text  # never a 5xx, never a page of its own
        return reply

    def callback_url(self, return_to: str | None = None) -> str:
        started = self.begin(return_to)
        assert started.status_code == 302, started.text
        return self.at_issuer(started.headers["location"])

    def sign_in(self, return_to: str | None = None) -> httpx.Response:
        return self.back(self.callback_url(return_to))

    def access_token(self) -> httpx.Response:
        return self.http.post("/api/v1/auth/refresh", headers={"X-Auth-Session": "cookie"})

    def close(self) -> None:
        self.http.close()
        self.elsewhere.close()


def refused(reply: httpx.Response) -> str:
    """The reason a sign-in ended on the sign-in screen; nothing else travels in the address."""
    location = reply.headers["location"]
    parts = urlsplit(location)
    assert parts.path == "/" and not parts.netloc and set(parse_qs(parts.query)) == {"oidc_error"}, location
    assert "refresh" not in reply.headers.get("set-cookie", ""), "no session on a refusal"
    return parse_qs(parts.query)["oidc_error"][0]


def with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


@pytest.fixture(scope="module")
def idp():
    issuer = OidcIssuer(CLIENT_ID, CLIENT_SECRET)
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, idp):
    gateway = Gateway(tmp_path_factory.mktemp("oidc-sign-in"), idp)
    yield gateway
    gateway.stop()


@pytest.fixture
def browser(gateway, idp):
    idp.misbehave()
    idp.sign_in_as(sub=f"sub-{uuid.uuid4().hex[:8]}", email=f"jane-{uuid.uuid4().hex[:8]}@example.com")
    b = Browser(gateway)
    yield b
    b.close()
    idp.misbehave()


def test_a_person_signs_in_at_the_issuer_and_comes_back_signed_in_where_they_were(gateway, idp, browser):
    config = httpx.get(f"{gateway.url}/api/v1/auth/config").json()
    assert config == {"oidc": {"name": "Test IdP", "login_url": "/api/v1/auth/oidc/login"}}
    admin = httpx.post(f"{gateway.url}/api/v1/auth/register", json={
        "email": f"admin-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "organization": "Acme"}).json()
    email = f"jane-{uuid.uuid4().hex[:8]}@example.com"
    idp.sign_in_as(sub="jane", email=email, org=admin["tenant_id"], chatbot_role="viewer")

    started = browser.begin("/c/conv_0123?tab=2")
    assert started.status_code == 302
    authorization = urlsplit(started.headers["location"])
    query = {k: v[0] for k, v in parse_qs(authorization.query).items()}
    assert f"{authorization.scheme}://{authorization.netloc}{authorization.path}" == idp.url + "/authorize"
    assert (query["response_type"], query["client_id"], query["redirect_uri"]) == ("code", CLIENT_ID, gateway.url + CALLBACK)
    assert query["scope"].split() == ["openid", "email", "profile"] and query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43 and len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    binding = started.headers["set-cookie"].lower()
    assert binding.startswith("chatbot_oidc=") and "httponly" in binding and "samesite=lax" in binding
    assert "path=/api/v1/auth/oidc" in binding and "max-age=600" in binding

    landed = browser.back(browser.at_issuer(started.headers["location"]))
    assert landed.headers["location"] == "/c/conv_0123?tab=2"
    session = landed.headers["set-cookie"].lower()
    assert session.startswith("chatbot_refresh=") and "httponly" in session and "samesite=strict" in session
    assert idp.token_replies[-1] == (200, "")  # the secret and the PKCE verifier were right

    tokens = browser.access_token()
    assert tokens.status_code == 200 and "refresh_token" not in tokens.json()
    me = httpx.get(f"{gateway.url}/api/v1/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}).json()
    assert (me["email"], me["tenant_id"], me["role"]) == (email, admin["tenant_id"], "viewer")

    again = Browser(gateway)
    try:
        again.sign_in()
        second = httpx.get(f"{gateway.url}/api/v1/me", headers={"Authorization": f"Bearer {again.access_token().json()['access_token']}"})
        assert second.json()["id"] == me["id"]  # the same person, the same account
    finally:
        again.close()
    # The tenant's admin finds the sign-ins in the audit log.
    admin_token = httpx.post(f"{gateway.url}/api/v1/auth/login", json={"email": admin["email"], "password": PASSWORD}).json()["access_token"]
    audit = httpx.get(f"{gateway.url}/api/v1/admin/audit", params={"action": "auth.login"},
                      headers={"Authorization": f"Bearer {admin_token}"}).json()
    assert sum(1 for e in audit["events"] if e["actor_id"] == me["id"] and e["details"].get("via") == "oidc") == 2


def test_replayed_forged_or_misdelivered_callbacks_sign_nobody_in(gateway, idp, browser):
    callback = browser.callback_url()
    browser.back(callback)
    assert refused(browser.back(callback)) == "state"  # the same callback again: the state was used

    # A code already exchanged, sent back with a fresh state of this browser's.
    used_code = parse_qs(urlsplit(callback).query)["code"][0]
    fresh = browser.callback_url()
    assert refused(browser.back(with_param(fresh, code=used_code))) == "token"
    assert idp.token_replies[-1] == (400, "invalid_grant")

    assert refused(browser.back(f"{gateway.url}{CALLBACK}?code=abc&state={'x' * 43}")) == "state"
    assert refused(browser.back(f"{gateway.url}{CALLBACK}?code=abc")) == "state"
    assert refused(browser.back(f"{gateway.url}{CALLBACK}")) == "state"

    # A callback URL that reaches another browser (sent in a link: login CSRF) counts nowhere.
    victim = Browser(gateway)
    try:
        stolen = browser.callback_url()
        assert refused(victim.back(stolen)) == "state"
        assert refused(browser.back(stolen)) == "state"  # and it is spent
    finally:
        victim.close()

    # The authorization response names another issuer (a mix-up attack).
    assert refused(browser.back(with_param(browser.callback_url(), iss="https://evil.example"))) == "issuer"


def test_a_refusal_a_wrong_nonce_or_a_bad_id_token_each_end_on_the_sign_in_screen(idp, browser):
    idp.misbehave(deny=True)
    denied = browser.sign_in()
    assert refused(denied) == "denied" and denied.headers["location"] == "/?oidc_error=denied"  # nothing the issuer wrote

    cases = {"nonce": {"nonce": "someone-elses-nonce"}, "id_token": {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}}
    for reason, spoil in cases.items():
        idp.misbehave(**spoil)
        assert refused(browser.sign_in()) == reason, spoil
    for spoil in ({"aud": "another-client"}, {"expired": True}):
        idp.misbehave(**spoil)
        assert refused(browser.sign_in()) == "id_token", spoil

    idp.misbehave()
    idp.sign_in_as(sub="no-mail")
    assert refused(browser.sign_in()) == "no_email"
    local = f"local-{uuid.uuid4().hex[:8]}@example.com"
    httpx.post(f"{browser.gateway}/api/v1/auth/register", json={"email": local, "password": PASSWORD})
    idp.sign_in_as(sub="takeover", email=local)
    assert refused(browser.sign_in()) == "account_exists"  # never takes over an account registered here
    assert browser.access_token().status_code == 401


def test_an_unverified_address_or_another_domain_gets_no_account_and_closed_sign_up_needs_an_invitation(tmp_path):
    idp = OidcIssuer(CLIENT_ID, CLIENT_SECRET)
    tag = uuid.uuid4().hex[:8]
    admin_email = f"admin-{tag}@example.com"
    opened = Gateway(tmp_path, idp)  # the organisation's admin signed up before sign-up was closed
    try:
        assert httpx.post(f"{opened.url}/api/v1/auth/register",
                          json={"email": admin_email, "password": PASSWORD, "organization": "Acme"}).status_code == 201
    finally:
        opened.stop()
    gateway = Gateway(tmp_path, idp, GATEWAY_REGISTRATION="closed", GATEWAY_OIDC_ALLOWED_DOMAINS='["example.com"]')
    browser = Browser(gateway)
    try:
        idp.sign_in_as(sub=f"u-{tag}", email=f"u-{tag}@example.com", email_verified=False)
        assert refused(browser.sign_in()) == "email_unverified"
        idp.sign_in_as(sub=f"u-{tag}", email=f"u-{tag}@example.com")
        idp.person.pop("email_verified")
        assert refused(browser.sign_in()) == "email_unverified"  # absent: not trusted by default
        idp.sign_in_as(sub=f"d-{tag}", email=f"d-{tag}@evil.example")
        assert refused(browser.sign_in()) == "domain"
        idp.sign_in_as(sub=f"n-{tag}", email=f"n-{tag}@example.com")
        assert refused(browser.sign_in()) == "registration_closed"
        assert browser.access_token().status_code == 401

        # An admin invites the address: now its first sign-in creates the account, with the invitation's role.
        token = httpx.post(f"{gateway.url}/api/v1/auth/login", json={"email": admin_email, "password": PASSWORD}).json()["access_token"]
        invited = httpx.post(f"{gateway.url}/api/v1/admin/invitations", headers={"Authorization": f"Bearer {token}"},
                             json={"email": f"n-{tag}@example.com", "role": "viewer"})
        assert invited.status_code == 201, invited.text
        browser.sign_in()
        me = httpx.get(f"{gateway.url}/api/v1/me", headers={"Authorization": f"Bearer {browser.access_token().json()['access_token']}"}).json()
        assert (me["email"], me["role"]) == (f"n-{tag}@example.com", "viewer")
        listed = httpx.get(f"{gateway.url}/api/v1/admin/invitations", headers={"Authorization": f"Bearer {token}"},
                           params={"state": "accepted"}).json()
        assert [i["email"] for i in listed["invitations"]] == [f"n-{tag}@example.com"]
    finally:
        browser.close()
        gateway.stop()
        idp.stop()


@pytest.mark.parametrize("return_to", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "/\t/evil.example",
                                       "javascript:alert(1)", "evil.example", "/" + "a" * 1200, ""])
def test_only_a_path_of_this_app_is_a_way_back(browser, return_to):
    assert browser.sign_in(return_to).headers["location"] == "/"


def test_a_way_back_inside_the_app_is_kept(browser):
    assert browser.sign_in("/documents").headers["location"] == "/documents"


def test_an_issuer_that_is_down_or_a_sign_in_that_took_too_long_ends_on_the_sign_in_screen(tmp_path):
    idp = OidcIssuer(CLIENT_ID, CLIENT_SECRET)
    gateway = Gateway(tmp_path, idp, GATEWAY_OIDC_LOGIN_TTL_SECONDS="5", GATEWAY_OIDC_HTTP_TIMEOUT_SECONDS="2")
    browser = Browser(gateway)
    try:
        idp.stop()
        assert refused(browser.begin()) == "unavailable"  # discovery cannot be read
        idp.start()
        callback = browser.callback_url()
        idp.stop()
        assert refused(browser.back(callback)) == "unavailable"  # the token endpoint is down
        idp.start()
        slow = browser.callback_url()
        time.sleep(5.5)
        assert refused(browser.back(slow)) == "expired"
        browser.sign_in()
        assert browser.access_token().status_code == 200  # and all is well once it is back
    finally:
        browser.close()
        gateway.stop()
        idp.stop()


def test_without_a_client_id_nobody_is_offered_or_sent_to_an_issuer(tmp_path):
    from e2e_support import start_gateways

    procs, (url,) = start_gateways(tmp_path, NO_RATE_LIMITS)
    try:
        assert httpx.get(f"{url}/api/v1/auth/config").json() == {"oidc": None}
        for path in ("/api/v1/auth/oidc/login", CALLBACK + "?code=a&state=b"):
            reply = httpx.get(url + path)
            assert reply.status_code == 404 and reply.json()["error"]["code"] == "NOT_FOUND"
    finally:
        procs[0].terminate()
        procs[0].wait(15)
