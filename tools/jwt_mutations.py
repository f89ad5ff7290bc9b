"""Forged and mutated access tokens that the gateway must refuse, as one list shared by the
unit test (the verifier in process) and the e2e test (a running gateway over HTTP).

Each case builds a token from a `Forge`: the gateway's real signing key (so a case fails for
its mutation, not for a bad signature), its issuer and audience, and a subject. `Forge.valid()`
is the unmutated token, which the tests check is accepted, so every refusal is the mutation's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REQUIRED_CLAIMS = ("exp", "iat", "nbf", "sub", "jti", "typ", "iss", "aud")


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Forge:
    kid: str
    private: Ed25519PrivateKey
    issuer: str
    audience: str
    subject: str
    extra: dict = field(default_factory=dict)  # e.g. tid, role, sep as the gateway issues them
    other: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)  # a key the gateway never had

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": self.subject, "iat": now, "nbf": now, "exp": now + 300,
                  "jti": f"forged-{now}", "typ": "access", **self.extra, **overrides}
        return {k: v for k, v in claims.items() if v is not _DROP}

    def sign(self, claims: dict, key: Ed25519PrivateKey | None = None, **headers) -> str:
        return jwt.encode(claims, key or self.private, algorithm="EdDSA", headers={"kid": self.kid, "typ": "JWT", **headers})

    def valid(self) -> str:
        return self.sign(self.claims())

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


_DROP = object()


def _unsigned(forge: Forge, alg: str) -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT', 'kid': forge.kid})}.{b64(forge.claims(role='admin'))}."


def _hmac_with_public_key(forge: Forge) -> str:
    # The classic confusion attack: HMAC keyed with the (public) verification key.
    header = b64({"alg": "HS256", "typ": "JWT", "kid": forge.kid})
    payload = b64(forge.claims(role="admin"))
    signature = hmac.new(forge.public_pem(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _tampered_payload(forge: Forge) -> str:
    header, payload, signature = forge.valid().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64({**claims, 'sub': 'usr_' + '0' * 32, 'role': 'admin'})}.{signature}"


def _tampered_signature(forge: Forge) -> str:
    token = forge.valid()
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


def _ago(seconds: int) -> int:
    return int(time.time()) - seconds


CASES: dict[str, Callable[[Forge], str]] = {
    "alg none": lambda f: _unsigned(f, "none"),
    "alg None, capitalised": lambda f: _unsigned(f, "None"),
    "HS256 keyed with the public key": _hmac_with_public_key,
    "signed by another key, naming the real kid": lambda f: f.sign(f.claims(), key=f.other),
    "signed by another key, unknown kid": lambda f: f.sign(f.claims(), key=f.other, kid="unknown-kid"),
    "kid pointing at a path": lambda f: f.sign(f.claims(), kid="../../../../etc/passwd"),
    "expired": lambda f: f.sign(f.claims(exp=_ago(60), iat=_ago(120), nbf=_ago(120))),
    "not yet valid": lambda f: f.sign(f.claims(nbf=int(time.time()) + 600)),
    "issued in the future": lambda f: f.sign(f.claims(iat=int(time.time()) + 600)),
    "wrong audience": lambda f: f.sign(f.claims(aud="someone-else")),
    "audience list without ours": lambda f: f.sign(f.claims(aud=["someone-else", "another"])),
    "wrong issuer": lambda f: f.sign(f.claims(iss="https://evil.example")),
    "a refresh token used as an access token": lambda f: f.sign(f.claims(typ="refresh", fam="family")),
    "payload changed after signing": _tampered_payload,
    "signature changed": _tampered_signature,
    "signature removed": lambda f: f.valid().rsplit(".", 1)[0] + ".",
    "jku header": lambda f: f.sign(f.claims(), jku="https://evil.example/jwks.json"),
    "embedded jwk header": lambda f: f.sign(f.claims(), jwk={"kty": "OKP", "crv": "Ed25519", "x": b64(b"\0" * 32)}),
    "x5u header": lambda f: f.sign(f.claims(), x5u="https://evil.example/cert.pem"),
    "crit header": lambda f: f.sign(f.claims(), crit=["exp"]),
    "exp not a number": lambda f: f.sign(f.claims(exp="never")),
    **{f"{claim} missing": (lambda claim: lambda f: f.sign(f.claims(**{claim: _DROP})))(claim) for claim in REQUIRED_CLAIMS},
    "not a token": lambda f: "not.a.token",
    "two parts": lambda f: ".".join(f.valid().split(".")[:2]),
}
