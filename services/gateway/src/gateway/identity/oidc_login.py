"""Browser sign-in through the external OpenID Connect issuer: the authorization-code flow with
PKCE (S256), `state` and `nonce`.

`start` reads the issuer's discovery document (cached; its `issuer` must be the configured one),
records the sign-in under way (the SHA-256 of its state, the nonce, the PKCE verifier, where to
return, and the SHA-256 of a value the starting browser holds in a cookie) and answers the
issuer's authorization URL. `finish` takes the record back exactly once (a replayed or unknown
state, one older than `oidc_login_ttl_seconds`, or a callback in a browser that did not start it
is refused: login CSRF), exchanges the code at the token endpoint with the verifier, verifies the
ID token (signature by the issuer's JWKS, `iss`, `aud`/`azp`, `exp`, `iat`, then the nonce), maps
the person to an account exactly as external bearer tokens are (`Accounts.from_oidc`: tenant and
role from the configured claims, never taking over a local account) and starts the same session
as a password sign-in. Every failure is a `SignInFailed` with a short fixed reason the web app
turns into a message (nothing the issuer wrote is shown), and is audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode, urlsplit

import httpx
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.identity import sessions, users
from gateway.identity.accounts import Accounts
from gateway.identity.oidc import OidcVerifier
from gateway.identity.sessions import IssuedTokens
from gateway.models import OidcSignIn
from gateway.security import TokenIssuer
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# Why a sign-in ended on the sign-in screen; the web app has a message for each.
REASONS = frozenset({
    "denied",            # the person (or the issuer's policy) refused
    "provider",          # the issuer answered the authorization request with another error
    "state",             # unknown, replayed or forged state, or the callback reached another browser
    "expired",           # the sign-in took longer than oidc_login_ttl_seconds
    "issuer",            # the authorization response names another issuer (mix-up, RFC 9207)
    "token",             # the issuer refused the code (used before, expired, not ours)
    "id_token",          # the ID token's signature, issuer, audience or times are wrong
    "nonce",             # the ID token is not the answer to this sign-in
    "unavailable",       # the issuer cannot be reached or answers nonsense
    "account_disabled", "account_exists", "no_email",  # the account here refuses the person
    "email_unverified",  # the issuer has not verified the address (a first sign-in creates no account)
    "domain",            # the address's domain is not one of GATEWAY_OIDC_ALLOWED_DOMAINS
    "registration_closed",  # sign-up is closed and no admin invited the address
    "busy",              # too many sign-ins from this address
})
DISCOVERY_CACHE_SECONDS = 3600.0
_BINDING = re.compile(r"^[A-Za-z0-9_-]{43}$")
_RETURN_PATH = re.compile(r"^/(?![/\\])[!-~]*$")
_DENIED = frozenset({"access_denied", "consent_required", "login_required", "interaction_required", "account_selection_required"})


class SignInFailed(Exception):
    def __init__(self, reason: str) -> None:
        assert reason in REASONS, reason
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Started:
    authorization_url: str
    binding: str  # for the browser's short-lived sign-in cookie


@dataclass(frozen=True)
class Finished:
    tokens: IssuedTokens
    return_to: str


@dataclass(frozen=True)
class _Endpoints:
    authorization: str
    token: str


@dataclass(frozen=True)
class _Pending:
    binding_sha256: str
    nonce: str
    code_verifier: str
    return_to: str
    expired: bool


def safe_return_path(value: str | None) -> str:
    """Only a path on this origin: `/…`, printable ASCII, never `//host` or `/\\host` (which
    browsers read as another host), else the app's start page."""
    if not value or len(value) > 1000 or "\\" in value or not _RETURN_PATH.fullmatch(value):
        return "/"
    return value


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.hostname) and not parts.fragment


class OidcLogin:
    def __init__(self, settings: GatewaySettings, verifier: OidcVerifier, sessions_: async_sessionmaker, accounts: Accounts,
                 issuer: TokenIssuer) -> None:
        self.settings = settings
        self.verifier = verifier
        self.sessions = sessions_
        self.accounts = accounts
        self.tokens = issuer
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.display_name = settings.oidc_display_name or urlsplit(settings.oidc_issuer).hostname or "your identity provider"
        self.discovery_url = settings.oidc_discovery_url or settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.ttl = settings.oidc_login_ttl_seconds
        self._http = httpx.AsyncClient(timeout=settings.oidc_http_timeout_seconds, follow_redirects=False)
        self._endpoints: _Endpoints | None = None
        self._fetched = 0.0

    async def close(self) -> None:
        await self._http.aclose()

    # --- the way out --------------------------------------------------------------------------

    async def start(self, return_to: str | None, binding: str | None) -> Started:
        """The issuer's authorization URL for a new sign-in; `binding` is the browser's existing
        sign-in cookie, kept so that two tabs signing in at once both succeed."""
        endpoints = await self._discover()
        binding = binding if binding and _BINDING.fullmatch(binding) else secrets.token_urlsafe(32)
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        now = utcnow()
        async with self.sessions() as session:
            await session.execute(delete(OidcSignIn).where(OidcSignIn.expires_at < now))
            session.add(OidcSignIn(state_sha256=_sha256(state), binding_sha256=_sha256(binding), nonce=nonce,
                                   code_verifier=verifier, return_to=safe_return_path(return_to),
                                   expires_at=now + timedelta(seconds=self.ttl)))
            await session.commit()
        query = urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.settings.oidc_redirect_uri,
            "scope": " ".join(self.settings.oidc_scopes), "state": state, "nonce": nonce,
            "code_challenge": _challenge(verifier), "code_challenge_method": "S256",
        })
        separator = "&" if urlsplit(endpoints.authorization).query else "?"
        return Started(endpoints.authorization + separator + query, binding)

    async def _discover(self) -> _Endpoints:
        if self._endpoints is not None and time.monotonic() - self._fetched < DISCOVERY_CACHE_SECONDS:
            return self._endpoints
        try:
            reply = await self._http.get(self.discovery_url, headers={"Accept": "application/json"})
            reply.raise_for_status()
            document = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("OIDC discovery unavailable", extra={"error": type(exc).__name__})
            raise SignInFailed("unavailable") from None
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            log.error("OIDC discovery names another issuer than GATEWAY_OIDC_ISSUER")
            raise SignInFailed("unavailable")
        authorization, token = document.get("authorization_endpoint"), document.get("token_endpoint")
        methods = document.get("code_challenge_methods_supported")
        if not (_http_url(authorization) and _http_url(token)) or (isinstance(methods, list) and "S256" not in methods):
            log.error("OIDC discovery lacks usable endpoints or PKCE S256")
            raise SignInFailed("unavailable")
        self._endpoints, self._fetched = _Endpoints(authorization, token), time.monotonic()
        return self._endpoints

    # --- the way back -------------------------------------------------------------------------

    async def finish(self, params: dict[str, str], binding: str | None, request: audit.Origin) -> Finished:
        """The callback's query parameters and the browser's sign-in cookie; a session or `SignInFailed`."""
        try:
            return await self._finish(params, binding, request)
        except SignInFailed as failed:
            await audit.write(self.sessions, audit.event(
                tenant_id="", actor_id="", actor_kind="anonymous", action="auth.login", outcome="failure", request=request,
                details={"via": "oidc", "reason": failed.reason}))
            raise

    async def _finish(self, params: dict[str, str], binding: str | None, request: audit.Origin) -> Finished:
        state = params.get("state", "")
        pending = await self._take(state) if 0 < len(state) <= 200 else None
        if pending is None:
            raise SignInFailed("state")
        if pending.expired:
            raise SignInFailed("expired")
        if not binding or not hmac.compare_digest(pending.binding_sha256, _sha256(binding)):
            raise SignInFailed("state")
        if "iss" in params and params["iss"] != self.issuer:
            raise SignInFailed("issuer")
        if "error" in params:
            log.info("OIDC authorization refused", extra={"error": params["error"][:64]})
            raise SignInFailed("denied" if params["error"] in _DENIED else "provider")
        code = params.get("code", "")
        if not code or len(code) > 4096:
            raise SignInFailed("token")
        id_token = await self._exchange(code, pending.code_verifier)
        try:
            claims = await self.verifier.verify_id_token(id_token, self.client_id)
        except AppError as error:
            raise SignInFailed("unavailable" if error.code is ErrorCode.SERVICE_UNAVAILABLE else "id_token") from None
        if not hmac.compare_digest(str(claims["nonce"]).encode(), pending.nonce.encode()):
            raise SignInFailed("nonce")
        try:
            principal = await self.accounts.from_oidc(claims, self.settings)
        except AppError as error:
            reason = error.details.get("reason") if error.code is ErrorCode.AUTHENTICATION_ERROR else "unavailable"
            raise SignInFailed(reason if reason in REASONS else "account_disabled") from None
        async with self.sessions() as session:
            user = await users.get(session, principal.user_id)
            if user is None or not user.is_active:
                raise SignInFailed("account_disabled")
            audit.add(session, audit.event(tenant_id=user.tenant_id, actor_id=user.id, actor_kind="user", action="auth.login",
                                           request=request, details={"via": "oidc"}))
            tokens = await sessions.issue(session, self.tokens, user)
        return Finished(tokens, pending.return_to)

    async def _take(self, state: str) -> _Pending | None:
        """The sign-in under way with this state, removed in the same step: a second callback
        with it (a replay, or a race with the first) finds nothing."""
        digest = _sha256(state)
        async with self.sessions() as session:
            row = await session.get(OidcSignIn, digest)
            if row is None:
                return None
            pending = _Pending(row.binding_sha256, row.nonce, row.code_verifier, row.return_to, row.expires_at <= utcnow())
            taken = await session.execute(delete(OidcSignIn).where(OidcSignIn.state_sha256 == digest))
            await session.commit()
        return pending if taken.rowcount == 1 else None

    async def _exchange(self, code: str, verifier: str) -> str:
        """The ID token for the code (RFC 6749 4.1.3 with RFC 7636's verifier)."""
        endpoints = await self._discover()
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.settings.oidc_redirect_uri,
                "code_verifier": verifier}
        headers = {"Accept": "application/json"}
        secret = self.settings.oidc_client_secret.get_secret_value() if self.settings.oidc_client_secret else ""
        if secret and self.settings.oidc_token_auth_method == "client_secret_basic":
            pair = f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}"  # form-encoded first (RFC 6749 2.3.1)
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            data["client_id"] = self.client_id
            if secret:
                data["client_secret"] = secret
        try:
            reply = await self._http.post(endpoints.token, data=data, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("OIDC token endpoint unavailable", extra={"error": type(exc).__name__})
            raise SignInFailed("unavailable") from None
        if reply.status_code >= 500:
            log.warning("OIDC token endpoint failed", extra={"status": reply.status_code})
            raise SignInFailed("unavailable")
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else ""
            log.warning("OIDC token endpoint refused the code", extra={"status": reply.status_code, "error": error[:64]})
            raise SignInFailed("token")
        return body["id_token"]
