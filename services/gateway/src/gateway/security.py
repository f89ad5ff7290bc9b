"""Password hashing (argon2id) and JWT issue/verification.

Tokens are signed with the key ring's newest Ed25519 key (EdDSA) and name it in `kid`.
Verification takes nothing from the token but the `kid`: the algorithm is fixed (an allow-list
of one), headers that point elsewhere for a key (`jku`, `jwk`, `x5u`, `x5c`) are refused, and
`iss`, `aud`, `exp`, `nbf`, `iat`, `sub`, `jti` and the token type are required and checked."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatbot_common.errors import AppError, ErrorCode
from gateway.keys import ALGORITHM, KeyRing

ALGORITHMS = [ALGORITHM]
_FOREIGN_KEY_HEADERS = ("jku", "jwk", "x5u", "x5c", "x5t", "crit")
_hasher = PasswordHasher()
# Verifying against this keeps login time the same whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """The caller as the routes see it. For an API key, `user_id` is the account the key acts
    for and `key_id` the key; `permissions` are what the role (and the key's scopes) allow."""

    user_id: str
    tenant_id: str
    role: str
    permissions: frozenset[str] = frozenset()
    key_id: str = ""
    epoch: int = 0

    def can(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class TokenIssuer:
    keys: KeyRing
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int
    # Access tokens already verified (exact token text -> claims): a client sends the same token
    # many times, and a signature check costs more than the rest of a request's routing.
    # An entry is used only while the token is unexpired and its key is still in the ring.
    _verified: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)
    cache_size: int = 10_000

    def access_token(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": principal.user_id, "iat": now, "nbf": now,
            "exp": now + self.access_ttl, "jti": secrets.token_hex(16), "typ": "access",
            "tid": principal.tenant_id, "role": principal.role, "sep": principal.epoch,
        }
        return self._sign(claims)

    def _sign(self, claims: dict) -> str:
        key = self.keys.active
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})

    def refresh_token(self, user_id: str, jti: str, family_id: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": user_id, "iat": now, "nbf": now,
            "exp": now + self.refresh_ttl, "jti": jti, "fam": family_id, "typ": "refresh",
        }
        return self._sign(claims)

    def decode(self, token: str, expected_type: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token") from None
        if header.get("alg") not in ALGORITHMS or any(name in header for name in _FOREIGN_KEY_HEADERS):
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token")
        public = self.keys.public_key(str(header.get("kid", "")))
        if public is None:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token")
        try:
            claims = jwt.decode(
                token, public, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iat", "nbf", "sub", "jti", "typ", "iss", "aud"]}, leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "token expired") from None
        except jwt.PyJWTError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token") from None
        if claims.get("typ") != expected_type:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token type")
        return claims

    def forget_user(self, user_id: str) -> None:
        for token in [t for t, (p, _, _) in self._verified.items() if p.user_id == user_id]:
            self._verified.pop(token, None)

    def principal(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires, kid = cached
            if time.time() < expires and self.keys.public_key(kid) is not None:
                return principal
            self._verified.pop(token, None)
        claims = self.decode(token, "access")
        epoch = claims.get("sep", 0)
        principal = Principal(claims["sub"], str(claims.get("tid", "")), str(claims.get("role", "")),
                              epoch=epoch if isinstance(epoch, int) else -1)
        self._verified[token] = (principal, claims["exp"], jwt.get_unverified_header(token)["kid"])
        while len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)
        return principal
