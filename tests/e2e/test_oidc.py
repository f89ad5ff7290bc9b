"""Tokens of an external OpenID Connect issuer: a test identity provider serves its JWKS over
real HTTP and signs RS256 tokens; the gateway verifies them, creates the account on first sign-in
(tenant and role from claims) and refuses every malformed or foreign token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from e2e_support import start_gateways
from fleet import free_port

pytestmark = pytest.mark.e2e
ISSUER = "https://idp.example.test"
AUDIENCE = "chatbot-platform"
PASSWORD = "correct horse battery"


class IdentityProvider:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        self.rotate()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                provider.fetches += 1
                body = json.dumps({"keys": [provider.jwk(kid) for kid in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def rotate(self) -> str:
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        return kid

    def jwk(self, kid: str) -> dict:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**data, "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, sub: str, email: str, key: rsa.RSAPrivateKey | None = None, alg: str = "RS256", **claims) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "email": email, "email_verified": True, "iat": now, "nbf": now, "exp": now + 300, **claims}
        return jwt.encode(payload, key or self.keys[self.kid], algorithm=alg, headers={"kid": self.kid})


@pytest.fixture
def setup(tmp_path):
    idp = IdentityProvider()
    env = {"GATEWAY_OIDC_ISSUER": ISSUER, "GATEWAY_OIDC_JWKS_URL": idp.jwks_url, "GATEWAY_OIDC_AUDIENCE": AUDIENCE,
           "GATEWAY_OIDC_TENANT_CLAIM": "org", "GATEWAY_OIDC_ROLE_CLAIM": "chatbot_role", "GATEWAY_OIDC_JWKS_COOLDOWN_SECONDS": "0",
           "GATEWAY_RATE_LIMIT_ANONYMOUS_REQUESTS": "0"}
    procs, (url,) = start_gateways(tmp_path, env)
    http = httpx.Client(base_url=url, timeout=30)
    yield idp, http
    http.close()
    procs[0].terminate()
    procs[0].wait(15)
    idp.server.shutdown()


def hs256_with(key: bytes, header: dict, claims: dict) -> str:
    """The algorithm-confusion token: HMAC keyed with the issuer's public key (PyJWT refuses to make one)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return signing_input + "." + b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def me(http, token: str) -> httpx.Response:
    return http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_external_tokens_sign_people_in_with_tenant_and_role_from_claims(setup):
    idp, http = setup
    tag = uuid.uuid4().hex[:8]
    admin_email = f"oidc-admin-{tag}@example.com"
    tenant = http.post("/api/v1/auth/register", json={"email": admin_email, "password": PASSWORD, "organization": "Acme"}).json()["tenant_id"]
    first = me(http, idp.token("sub-1", f"jane-{tag}@example.com", org=tenant, chatbot_role="viewer"))
    assert first.status_code == 200, first.text
    assert first.json()["tenant_id"] == tenant and first.json()["role"] == "viewer"
    assert first.json()["permissions"] == ["chat", "documents:read"]
    again = me(http, idp.token("sub-1", f"jane-{tag}@example.com", org=tenant))
    assert again.json()["id"] == first.json()["id"]  # the same person, the same account
    # An unknown tenant claim lands in the default tenant, as a member.
    other = me(http, idp.token("sub-2", f"joe-{tag}@example.com", org="nope", chatbot_role="emperor")).json()
    assert other["tenant_id"] == "default" and other["role"] == "member"
    # The tenant's admin sees the account, and disabling it shuts the external sessions.
    admin = {"Authorization": "Bearer " + http.post("/api/v1/auth/login", json={"email": admin_email, "password": PASSWORD}).json()["access_token"]}
    users = {u["email"]: u for u in http.get("/api/v1/admin/users", headers=admin).json()["users"]}
    assert users[f"jane-{tag}@example.com"]["role"] == "viewer"
    assert http.patch(f"/api/v1/admin/users/{first.json()['id']}", headers=admin, json={"is_active": False}).status_code == 200
    assert me(http, idp.token("sub-1", f"jane-{tag}@example.com")).status_code == 401
    # An external account has no password to sign in with here.
    assert http.post("/api/v1/auth/login", json={"email": f"joe-{tag}@example.com", "password": "!external"}).status_code == 401


def test_malformed_or_foreign_external_tokens_are_refused(setup):
    idp, http = setup
    tag = uuid.uuid4().hex[:8]
    local = f"local-{tag}@example.com"
    http.post("/api/v1/auth/register", json={"email": local, "password": PASSWORD})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = idp.keys[idp.kid].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    bad = {
        "signed by another key": idp.token("s", f"a-{tag}@example.com", key=stranger),
        "wrong audience": idp.token("s", f"a-{tag}@example.com", aud="someone-else"),
        "expired": idp.token("s", f"a-{tag}@example.com", iat=now - 900, nbf=now - 900, exp=now - 600),
        "HS256 keyed with the public key": hs256_with(public_pem, {"alg": "HS256", "typ": "JWT", "kid": idp.kid},
                                                      {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "email": f"a-{tag}@example.com",
                                                       "iat": now, "exp": now + 300}),
        "alg none": jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + 300}, None, algorithm="none"),
        "no e-mail": idp.token("s-no-mail", ""),
        "takes over a local account": idp.token("s-takeover", local),
        "another issuer": jwt.encode({"iss": "https://evil.test", "aud": AUDIENCE, "sub": "s", "iat": now, "exp": now + 300},
                                     idp.keys[idp.kid], algorithm="RS256", headers={"kid": idp.kid}),
    }
    for name, token in bad.items():
        reply = me(http, token)
        assert reply.status_code == 401, (name, reply.text)
        assert reply.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_a_rotated_key_is_fetched_when_first_seen(setup):
    idp, http = setup
    tag = uuid.uuid4().hex[:8]
    assert me(http, idp.token("rot", f"rot-{tag}@example.com")).status_code == 200
    fetched = idp.fetches
    idp.rotate()
    assert me(http, idp.token("rot", f"rot-{tag}@example.com")).status_code == 200
    assert idp.fetches == fetched + 1
