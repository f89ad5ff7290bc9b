"""Access tokens from an external OpenID Connect issuer (Okta, Entra ID, Keycloak, Auth0...).

A token whose `iss` is the configured issuer is verified with that issuer's public keys, read
from its JWKS URL (cached; fetched again when a token names a key not seen yet, at most once per
cooldown, so a flood of made-up `kid`s cannot hammer the issuer). The algorithm allow-list is the
configured one (asymmetric only), `aud`, `exp`, `nbf`, `iat` and `sub` are required. The person
is then an account here, created on first sign-in: the issuer's `sub` is remembered with the
account, its e-mail claim names it, a configured claim may name the tenant and the role. An
account already registered here with the same e-mail is never taken over by an external token.
Disabling the account here shuts the external sessions too (account state is checked per
request as for local tokens)."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt

from chatbot_common.errors import AppError, ErrorCode

log = logging.getLogger(__name__)
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
_FOREIGN_KEY_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")


class OidcVerifier:
    def __init__(self, issuer: str, jwks_url: str, audience: str, algorithms: list[str], cache_seconds: float = 600,
                 cooldown_seconds: float = 30, timeout_seconds: float = 5) -> None:
        unknown = set(algorithms) - ASYMMETRIC
        if unknown:
            raise ValueError(f"OIDC algorithms must be asymmetric; not allowed: {sorted(unknown)}")
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.audience = audience
        self.algorithms = list(algorithms)
        self.cache_seconds = cache_seconds
        self.cooldown_seconds = cooldown_seconds
        self.timeout_seconds = timeout_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    def claims_issuer(self, token: str) -> str:
        try:
            return str(jwt.decode(token, options={"verify_signature": False}).get("iss", ""))
        except jwt.PyJWTError:
            return ""

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched
            if (force and age < self.cooldown_seconds) or (not force and age < self.cache_seconds and self._keys):
                return
            self._fetched = time.monotonic()
            try:
                async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
                    reply = await client.get(self.jwks_url)
                    reply.raise_for_status()
                    keys = jwt.PyJWKSet.from_dict(reply.json()).keys
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                log.warning("OIDC key set unavailable", extra={"error": type(exc).__name__})
                if not self._keys:
                    raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the identity provider's keys are unavailable") from None
                return
            self._keys = {k.key_id: k for k in keys if k.key_id}

    async def verify(self, token: str) -> dict:
        """An access token of the issuer, for this API's audience."""
        return await self._verified(token, self.audience, ["exp", "iat", "sub", "iss", "aud"])

    async def verify_id_token(self, token: str, client_id: str) -> dict:
        """An ID token from the browser sign-in: signed by the issuer, for this client (OIDC Core
        3.1.3.7: `aud` names the client; with other audiences beside it, `azp` must be the client).
        The caller checks the nonce."""
        claims = await self._verified(token, client_id, ["exp", "iat", "sub", "iss", "aud", "nonce"])
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token")
        return claims

    async def _verified(self, token: str, audience: str, required: list[str]) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token") from None
        if header.get("alg") not in self.algorithms or any(name in header for name in _FOREIGN_KEY_HEADERS):
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token")
        kid = str(header.get("kid", ""))
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token")
        try:
            return jwt.decode(token, key.key, algorithms=self.algorithms, audience=audience, issuer=self.issuer,
                              options={"require": required}, leeway=30)
        except jwt.ExpiredSignatureError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "token expired") from None
        except jwt.PyJWTError:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "invalid token") from None
