"""What the routes ask of the limits: may this request run, may this stream open, may this many
tokens be spent, and what was really spent.

Keys (prefix `rl:`): `req:<who>` request rate (GCRA), `streams:u:<user>` open streams,
`signin:<hash of the e-mail address>` sign-in attempts that may fail,
`tpm:<scope>:<id>:<minute>`, `day:<scope>:<id>:<yyyymmdd>`, `month:<scope>:<id>:<yyyymm>` token
counters, where `<who>` is `u:<user>`, `k:<api key>` or `ip:<address>` (the socket peer, or
X-Forwarded-For only from a configured trusted proxy: uvicorn resolves it).

When the store fails the outcome is configured per kind (request rates fail open, budgets fail
closed by default) and counted in `ratelimit_store_errors_total{check,decision}`."""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Request
from prometheus_client import Counter as PromCounter

from chatbot_common.errors import AppError, ErrorCode
from gateway.identity.tenants import TenantPolicies
from gateway.limits.backends import Counter, LimitStore, MemoryStore, RateDecision, RedisStore
from gateway.security import Principal

log = logging.getLogger(__name__)

STORE_ERRORS = PromCounter("ratelimit_store_errors_total", "Limit checks the store could not answer", ["check", "decision"])
REFUSALS = PromCounter("ratelimit_refusals_total", "Requests refused by a limit", ["limit"])


def open_store(redis_url: str, timeout_seconds: float) -> LimitStore:
    return RedisStore(redis_url, timeout_seconds) if redis_url else MemoryStore()


def _store_failure(exc: BaseException) -> bool:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency
        RedisError = OSError  # noqa: N806
    return isinstance(exc, (RedisError, OSError, TimeoutError))


@dataclass
class Reservation:
    counters: list[Counter] = field(default_factory=list)
    amount: int = 0
    settled: bool = False


@dataclass
class StreamSlot:
    key: str
    member: str
    held: bool


class Limits:
    def __init__(self, settings, store: LimitStore, tenants: TenantPolicies) -> None:
        self.s = settings
        self.store = store
        self.tenants = tenants

    # -- request rate ------------------------------------------------------------------------

    async def check_request(self, request: Request, principal: Principal | None) -> None:
        if principal is None:
            who, limit = f"ip:{client_address(request)}", self.s.rate_limit_anonymous_requests
        elif principal.key_id:
            who, limit = f"k:{principal.key_id}", self.s.rate_limit_key_requests
        else:
            who, limit = f"u:{principal.user_id}", self.s.rate_limit_requests
        if limit <= 0:
            return
        try:
            decision = await self.store.rate(f"rl:req:{who}", limit, self.s.rate_limit_window)
        except Exception as exc:
            if not _store_failure(exc):
                raise
            return self._failed("requests", self.s.rate_limit_on_store_failure, exc)
        request.state.ratelimit = decision
        if not decision.allowed:
            REFUSALS.labels("requests").inc()
            raise AppError(ErrorCode.RATE_LIMIT_EXCEEDED, f"rate limit exceeded: {limit} requests per {self.s.rate_limit_window} s",
                           {"limit": limit, "window_seconds": self.s.rate_limit_window, "retry_after": max(1, math.ceil(decision.retry_after))})

    def _failed(self, check: str, mode: str, exc: BaseException) -> None:
        log.warning("limit store unavailable", extra={"check": check, "decision": mode, "error": type(exc).__name__})
        STORE_ERRORS.labels(check, "allowed" if mode == "open" else "refused").inc()
        if mode != "open":
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "limits are unavailable; try again shortly", {"retry_after": 1})

    # -- failed sign-ins per account ---------------------------------------------------------

    async def begin_sign_in(self, email: str) -> Counter | None:
        """Counts a sign-in for `email` as failed until it succeeds, and refuses it (429) once
        `login_failures_per_account` failed within the window, whoever sends it. Counted up
        front, so a burst of concurrent guesses cannot all slip in before the first one fails.
        Any address is counted alike, with or without an account: the answer never says which.
        Returns the counter to give the attempt back with (`sign_in_not_failed`)."""
        limit, window = self.s.login_failures_per_account, self.s.login_failure_window_seconds
        if limit <= 0:
            return None
        counter = Counter(f"rl:signin:{hashlib.sha256(email.encode()).hexdigest()[:32]}", limit, math.ceil(window))
        try:
            count, seconds_left = await self.store.hit(counter.key, window)
        except Exception as exc:
            if not _store_failure(exc):
                raise
            self._failed("sign_in_failures", self.s.rate_limit_on_store_failure, exc)
            return None
        if count > limit:
            REFUSALS.labels("sign_in_failures").inc()
            raise AppError(ErrorCode.RATE_LIMIT_EXCEEDED, "too many failed sign-ins for this account; try again later",
                           {"limit_name": "failed sign-ins per account", "limit": limit, "window_seconds": window,
                            "retry_after": max(1, math.ceil(seconds_left))})
        return counter

    async def sign_in_not_failed(self, counter: Counter | None) -> None:
        """Gives back an attempt that succeeded or was never checked (the server was busy)."""
        if counter is None:
            return
        try:
            await self.store.adjust([counter], -1)
        except Exception as exc:
            if not _store_failure(exc):
                raise
            STORE_ERRORS.labels("sign_in_release", "kept").inc()

    # -- concurrent streams ------------------------------------------------------------------

    async def open_stream(self, principal: Principal) -> StreamSlot:
        slot = StreamSlot(f"rl:streams:u:{principal.user_id}", uuid.uuid4().hex, False)
        limit = self.s.max_concurrent_streams
        if limit <= 0:
            return slot
        try:
            ok, count = await self.store.acquire(slot.key, slot.member, limit, self.s.chat_timeout_seconds + 30)
        except Exception as exc:
            if not _store_failure(exc):
                raise
            self._failed("streams", self.s.rate_limit_on_store_failure, exc)
            return slot
        if not ok:
            REFUSALS.labels("streams").inc()
            raise AppError(ErrorCode.RATE_LIMIT_EXCEEDED, f"at most {limit} concurrent streams per user",
                           {"limit": limit, "open_streams": count, "retry_after": 1})
        slot.held = True
        return slot

    async def close_stream(self, slot: StreamSlot) -> None:
        if not slot.held:
            return
        slot.held = False
        try:
            await self.store.release(slot.key, slot.member)
        except Exception as exc:  # the lease expires on its own
            if not _store_failure(exc):
                raise
            STORE_ERRORS.labels("streams_release", "expires").inc()

    # -- tokens ------------------------------------------------------------------------------

    async def _counters(self, principal: Principal, now: datetime) -> list[tuple[str, Counter]]:
        policy = await self.tenants.get(principal.tenant_id)
        minute_left = 60 - now.second
        tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        next_month = (now.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        day_left = int((tomorrow - now).total_seconds()) + 60
        month_left = int((next_month - now).total_seconds()) + 60

        def pick(tenant_value: int, default: int) -> int:
            return default if tenant_value == 0 else tenant_value

        u, t = principal.user_id, principal.tenant_id
        candidates = [
            ("user tokens per minute", f"rl:tpm:u:{u}:{now:%Y%m%d%H%M}", self.s.user_tokens_per_minute, minute_left + 5),
            ("tenant tokens per minute", f"rl:tpm:t:{t}:{now:%Y%m%d%H%M}", pick(policy.tokens_per_minute, self.s.tenant_tokens_per_minute), minute_left + 5),
            ("user daily token budget", f"rl:day:u:{u}:{now:%Y%m%d}", self.s.user_daily_token_budget, day_left),
            ("user monthly token budget", f"rl:month:u:{u}:{now:%Y%m}", self.s.user_monthly_token_budget, month_left),
            ("tenant daily token budget", f"rl:day:t:{t}:{now:%Y%m%d}", pick(policy.daily_token_budget, self.s.tenant_daily_token_budget), day_left),
            ("tenant monthly token budget", f"rl:month:t:{t}:{now:%Y%m}", pick(policy.monthly_token_budget, self.s.tenant_monthly_token_budget), month_left),
        ]
        return [(name, Counter(key, limit, ttl)) for name, key, limit, ttl in candidates if limit > 0]

    async def reserve_tokens(self, principal: Principal, estimate: int) -> Reservation:
        """Charges the estimate to every applicable counter, or refuses (429) naming the limit."""
        now = datetime.now(UTC)
        named = await self._counters(principal, now)
        counters = [c for _, c in named]
        if not counters:
            return Reservation()
        try:
            refused = await self.store.reserve(counters, estimate)
        except Exception as exc:
            if not _store_failure(exc):
                raise
            self._failed("tokens", self.s.budget_on_store_failure, exc)
            return Reservation()
        if refused >= 0:
            name, counter = named[refused]
            REFUSALS.labels(name.split(" ", 1)[1].replace(" ", "_")).inc()
            retry = counter.ttl_seconds if "per minute" not in name else 60 - now.second
            raise AppError(ErrorCode.RATE_LIMIT_EXCEEDED, f"{name} exceeded ({counter.limit} tokens)",
                           {"limit": counter.limit, "limit_name": name, "requested": estimate, "retry_after": max(1, retry)})
        return Reservation(counters, estimate)

    async def settle(self, reservation: Reservation, actual: int | None, known: int = 0) -> None:
        """Replaces the estimate with the real usage (None: unknown, the estimate stands, plus
        `known`: usage already counted apart from the part the estimate stands for)."""
        if reservation.settled or not reservation.counters:
            return
        reservation.settled = True
        if actual is None:
            if known <= 0:
                return
            actual = reservation.amount + known
        try:
            await self.store.adjust(reservation.counters, actual - reservation.amount)
        except Exception as exc:
            if not _store_failure(exc):
                raise
            STORE_ERRORS.labels("tokens_settle", "estimate_kept").inc()

    async def budget_left(self, principal: Principal) -> float | None:
        """The share (0..1) of the caller's tightest daily or monthly token budget, user's or
        tenant's, still left before this request (None: no budget applies, or the store did not
        answer). Routing aliases send a person near the end of a budget to a cheaper model;
        tokens per minute are a rate, not a budget, and do not count."""
        budgets = [c for name, c in await self._counters(principal, datetime.now(UTC)) if "budget" in name]
        if not budgets:
            return None
        try:
            used = await self.store.usage([c.key for c in budgets])
        except Exception as exc:
            if not _store_failure(exc):
                raise
            STORE_ERRORS.labels("budget_left", "unknown").inc()
            return None
        return min(max(0, c.limit - u) / c.limit for c, u in zip(budgets, used, strict=True))

    async def usage(self, principal: Principal) -> dict[str, dict[str, int]]:
        named = await self._counters(principal, datetime.now(UTC))
        values = await self.store.usage([c.key for _, c in named])
        return {name: {"used": v, "limit": c.limit} for (name, c), v in zip(named, values, strict=True)}

    async def usage_of(self, user_id: str, tenant_id: str) -> dict[str, dict[str, int]]:
        return await self.usage(Principal(user_id, tenant_id, ""))

    async def forget_user(self, user_id: str) -> int:
        """Erasure: every counter, lease and rate state of the account."""
        return await self.store.forget([f"rl:*:u:{user_id}", f"rl:*:u:{user_id}:*"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(max(0, decision.remaining)).encode()),
        (b"x-ratelimit-reset", str(max(0, math.ceil(decision.reset_seconds))).encode()),
    ]


@dataclass
class TurnGuard:
    """One generation's hold on the limits: its stream slot and its token reservation."""

    limits: Limits
    slot: StreamSlot | None
    reservation: Reservation
    budget_left: float | None = None  # before this turn (Limits.budget_left), for routing aliases
    done: bool = False

    async def finish(self, actual_tokens: int | None, known: int = 0) -> None:
        if self.done:
            return
        self.done = True
        if self.slot is not None:
            await self.limits.close_stream(self.slot)
        await self.limits.settle(self.reservation, actual_tokens, known)


async def begin_turn(limits: Limits, principal: Principal, prompt_chars: int, max_tokens: int | None, stream: bool) -> TurnGuard:
    """Takes a stream slot (streams only) and reserves the estimated tokens: the prompt's
    characters / 4 plus the completion's allowance. Refusals are 429s naming the limit. The
    guard also says how much of the tightest budget was left before it (`budget_left`)."""
    estimate = math.ceil(prompt_chars / 4) + (max_tokens or limits.s.completion_reserve_tokens)
    left = await limits.budget_left(principal)
    slot = await limits.open_stream(principal) if stream else None
    try:
        reservation = await limits.reserve_tokens(principal, estimate)
    except BaseException:
        if slot is not None:
            await limits.close_stream(slot)
        raise
    return TurnGuard(limits, slot, reservation, left)
