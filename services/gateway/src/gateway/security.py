"""Password hashing (argon2id) and JWT issue/verification."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatbot_common.errors import AppError, ErrorCode

ALGORITHM = "HS256"
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
    user_id: str
    tenant_id: str
    role: str


@dataclass(frozen=True)
class TokenIssuer:
    secret: str
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int

    def access_token(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": principal.user_id, "iat": now, "nbf": now,
            "exp": now + self.access_ttl, "jti": secrets.token_hex(16), "typ": "access",
            "tid": principal.tenant_id, "role": principal.role,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def refresh_token(self, user_id: str, jti: str, family_id: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": user_id, "iat": now, "nbf": now,
            "exp": now + self.refresh_ttl, "jti": jti, "fam": family_id, "typ": "refresh",
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str, expected_type: str) -> dict:
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iat", "nbf", "sub", "jti", "typ", "iss", "aud"]}, leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "token expired") from None
        except jwt.PyJWTError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token") from None
        if claims.get("typ") != expected_type:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token type")
        return claims

    def principal(self, token: str) -> Principal:
        claims = self.decode(token, "access")
        return Principal(claims["sub"], str(claims.get("tid", "")), str(claims.get("role", "member")))
