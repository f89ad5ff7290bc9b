"""Password hashing (argon2id) and JWT issue/verification.

Hashing runs on a few low-priority threads with a bounded queue (`PasswordHashing`): a storm of
sign-ins waits its turn or is refused with a 429, and never takes the CPU from the event loop
that serves chat, nor holds a database connection (the routes read, release, hash, then write).

Tokens are signed with the key ring's newest Ed25519 key (EdDSA) and name it in `kid`.
Verification takes nothing from the token but the `kid`: the algorithm is fixed (an allow-list
of one), headers that point elsewhere for a key (`jku`, `jwk`, `x5u`, `x5c`) are refused, and
`iss`, `aud`, `exp`, `nbf`, `iat`, `sub`, `jti` and the token type are required and checked."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter, Gauge

from chatbot_common.errors import AppError, ErrorCode
from gateway.keys import ALGORITHM, KeyRing

log = logging.getLogger(__name__)
T = TypeVar("T")
HASHING_REFUSED = Counter("password_hashing_refused_total", "Password checks refused because the hashing queue was full")
HASHING_PENDING = Gauge("password_hashing_pending", "Password hashes running or waiting")

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


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class PasswordHashing:
    """argon2 off the event loop, bounded.

    `workers` hashes run at once (0: half the CPUs, at least one; each argon2 hash already
    spreads over several lanes), `queue` more may wait; beyond that the caller gets a 429 with
    a Retry-After estimated from recent hash times. The worker threads lower their own
    scheduling priority (`nice`; threads argon2 starts inherit it), so when the CPU is short the
    event loop and the other services go first and sign-ins slow down instead of chat."""

    def __init__(self, workers: int = 0, queue: int = 32, nice: int = 10) -> None:
        self.workers = workers or max(1, _available_cpus() // 2)
        self.capacity = self.workers + queue
        self.nice = nice
        self._pending = 0
        self._seconds = 0.1  # a running mean of one hash's duration, for Retry-After
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="password-hash", initializer=self._lower_priority)

    def _lower_priority(self) -> None:
        if self.nice <= 0:
            return
        try:  # Linux: a thread's nice value is its own, and threads it starts inherit it
            thread = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + self.nice))
        except (AttributeError, OSError) as exc:
            log.warning("could not lower the password hashing threads' priority", extra={"error": type(exc).__name__})

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[..., T], *args) -> T:
        if self._pending >= self.capacity:
            HASHING_REFUSED.inc()
            retry = max(1, math.ceil(self._pending * self._seconds / self.workers))
            raise AppError(ErrorCode.RATE_LIMIT_EXCEEDED, "too many sign-ins are being checked right now; try again shortly",
                           {"limit_name": "password checks in progress", "limit": self.capacity, "retry_after": retry})
        loop = asyncio.get_running_loop()
        self._pending += 1
        HASHING_PENDING.inc()

        def on_loop(callback, *values) -> None:
            try:
                loop.call_soon_threadsafe(callback, *values)
            except RuntimeError:  # the loop is closed: the process is shutting down
                pass

        def timed():
            started = time.perf_counter()
            try:
                return fn(*args)
            finally:
                on_loop(self._observe, time.perf_counter() - started)

        future = self._executor.submit(timed)
        # The slot is freed when the work is really over, not when a caller stops waiting for
        # it: a hash already running goes on using the CPU.
        future.add_done_callback(lambda _: on_loop(self._release))
        return await asyncio.wrap_future(future)

    def _observe(self, seconds: float) -> None:
        self._seconds = 0.8 * self._seconds + 0.2 * seconds

    def _release(self) -> None:
        self._pending -= 1
        HASHING_PENDING.dec()

    async def hash(self, password: str) -> str:
        return await self.run(hash_password, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self.run(verify_password, password_hash, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


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
    # The longest a session (a family of rotated refresh tokens) lasts from its sign-in, however
    # often it is refreshed.
    session_max_seconds: int = 30 * 86_400
    # Access tokens already verified (exact token text -> claims): a client sends the same token
    # many times, and a signature check costs more than the rest of a request's routing.
    # An entry is used only while the token is unexpired and its key is still in the ring.
    _verified: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)
    cache_size: int = 10_000

    def access_token(self, principal: Principal, ttl: int | None = None) -> str:
        """`ttl`: shorter than `access_ttl` when the session ends sooner (never past its end)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": principal.user_id, "iat": now, "nbf": now,
            "exp": now + (self.access_ttl if ttl is None else min(ttl, self.access_ttl)), "jti": secrets.token_hex(16), "typ": "access",
            "tid": principal.tenant_id, "role": principal.role, "sep": principal.epoch,
        }
        return self._sign(claims)

    def _sign(self, claims: dict) -> str:
        key = self.keys.active
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})

    def refresh_token(self, user_id: str, jti: str, family_id: str, ttl: int | None = None) -> str:
        """`ttl`: shorter than `refresh_ttl` when the session nears its longest lifetime."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": user_id, "iat": now, "nbf": now,
            "exp": now + (self.refresh_ttl if ttl is None else ttl), "jti": jti, "fam": family_id, "typ": "refresh",
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
