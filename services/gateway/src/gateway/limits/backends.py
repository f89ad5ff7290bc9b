"""Two stores with one interface: Redis (atomic Lua scripts, the server's clock, every key with
an expiry) and an in-process one for the embedded default (a single replica).

- `rate`: GCRA. A key holds the theoretical arrival time; `limit` requests fit in `period` and
  come back one every `period/limit`. Check and update are one script, so concurrent requests on
  several replicas can never both take the last slot.
- `acquire`/`release`: a counted set of leases (concurrent streams); a lease left by a replica
  that died expires on its own.
- `reserve`/`adjust`: token counters on fixed windows (minute, day, month); several counters are
  checked and charged together or not at all, and corrected with the real usage afterwards.
- `hit`: a counter whose window starts with its first hit (failed sign-ins of one account);
  `adjust` gives a hit back."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the allowance is whole again
    retry_after: float  # when denied: until one request fits


@dataclass(frozen=True)
class Counter:
    key: str
    limit: int  # > 0
    ttl_seconds: int  # the window's remaining life


class LimitStore(Protocol):
    async def rate(self, key: str, limit: int, period_seconds: float) -> RateDecision: ...
    async def acquire(self, key: str, member: str, limit: int, lease_seconds: float) -> tuple[bool, int]: ...
    async def release(self, key: str, member: str) -> None: ...
    async def reserve(self, counters: list[Counter], amount: int) -> int: ...  # index of the counter that refused, or -1
    async def adjust(self, counters: list[Counter], delta: int) -> None: ...
    async def hit(self, key: str, window_seconds: float) -> tuple[int, float]: ...  # (count, seconds left in the window)
    async def usage(self, keys: list[str]) -> list[int]: ...
    async def forget(self, pattern_keys: list[str]) -> int: ...
    async def close(self) -> None: ...


_RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, math.floor((period - (new_tat - now)) / interval + 1e-9), 0, math.ceil(new_tat - now)}
"""

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[2]) then return {0, count} end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return {1, count + 1}
"""

_RESERVE = """
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used + amount > tonumber(ARGV[i * 2]) then return i - 1 end
end
for i, key in ipairs(KEYS) do
  redis.call('INCRBY', key, amount)
  if redis.call('PTTL', key) < 0 then redis.call('EXPIRE', key, tonumber(ARGV[i * 2 + 1])) end
end
return -1
"""

# Corrections go only to counters whose window is still open (no key without an expiry).
_ADJUST = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local value = redis.call('INCRBY', key, tonumber(ARGV[1]))
    if value < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
  end
end
return 0
"""


_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


class RedisStore:
    def __init__(self, url: str, timeout_seconds: float = 0.5) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds, health_check_interval=30,
            retry_on_timeout=False,
        )
        self._rate = self.client.register_script(_RATE)
        self._acquire = self.client.register_script(_ACQUIRE)
        self._reserve = self.client.register_script(_RESERVE)
        self._adjust = self.client.register_script(_ADJUST)
        self._hit = self.client.register_script(_HIT)

    async def rate(self, key: str, limit: int, period_seconds: float) -> RateDecision:
        allowed, remaining, retry_ms, reset_ms = await self._rate(keys=[key], args=[int(period_seconds * 1000), limit])
        return RateDecision(bool(allowed), limit, int(remaining), reset_ms / 1000, retry_ms / 1000)

    async def acquire(self, key: str, member: str, limit: int, lease_seconds: float) -> tuple[bool, int]:
        ok, count = await self._acquire(keys=[key], args=[member, limit, int(lease_seconds * 1000)])
        return bool(ok), int(count)

    async def release(self, key: str, member: str) -> None:
        await self.client.zrem(key, member)

    async def reserve(self, counters: list[Counter], amount: int) -> int:
        if not counters:
            return -1
        args: list[int] = [amount]
        for c in counters:
            args += [c.limit, max(1, c.ttl_seconds)]
        return int(await self._reserve(keys=[c.key for c in counters], args=args))

    async def adjust(self, counters: list[Counter], delta: int) -> None:
        if counters and delta:
            await self._adjust(keys=[c.key for c in counters], args=[delta])

    async def hit(self, key: str, window_seconds: float) -> tuple[int, float]:
        count, ttl_ms = await self._hit(keys=[key], args=[max(1, int(window_seconds * 1000))])
        return int(count), ttl_ms / 1000

    async def usage(self, keys: list[str]) -> list[int]:
        values = await self.client.mget(keys) if keys else []
        return [int(v or 0) for v in values]

    async def forget(self, pattern_keys: list[str]) -> int:
        removed = 0
        for pattern in pattern_keys:
            batch = [key async for key in self.client.scan_iter(match=pattern, count=500)]
            if batch:
                removed += await self.client.delete(*batch)
        return removed

    async def close(self) -> None:
        await self.client.aclose()


class MemoryStore:
    """The same semantics in one process (the event loop serialises every call)."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (value, expires at)
        self._last_sweep = time.monotonic()

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < 30:
            return
        self._last_sweep = now
        self._tat = {k: v for k, v in self._tat.items() if v > now}
        self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        self._leases = {k: v for k, v in self._leases.items() if any(exp > now for exp in v.values())}

    async def rate(self, key: str, limit: int, period_seconds: float) -> RateDecision:
        now = time.monotonic()
        self._sweep(now)
        interval = period_seconds / limit
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + interval
        allow_at = new_tat - period_seconds
        if allow_at > now:
            return RateDecision(False, limit, 0, tat - now, allow_at - now)
        self._tat[key] = new_tat
        return RateDecision(True, limit, math.floor((period_seconds - (new_tat - now)) / interval + 1e-9), new_tat - now, 0.0)

    async def acquire(self, key: str, member: str, limit: int, lease_seconds: float) -> tuple[bool, int]:
        now = time.monotonic()
        leases = {m: exp for m, exp in self._leases.get(key, {}).items() if exp > now}
        if len(leases) >= limit:
            self._leases[key] = leases
            return False, len(leases)
        leases[member] = now + lease_seconds
        self._leases[key] = leases
        return True, len(leases)

    async def release(self, key: str, member: str) -> None:
        self._leases.get(key, {}).pop(member, None)

    def _value(self, key: str, now: float) -> int:
        value, expires = self._counters.get(key, (0, 0.0))
        return value if expires > now else 0

    async def reserve(self, counters: list[Counter], amount: int) -> int:
        now = time.monotonic()
        for i, c in enumerate(counters):
            if self._value(c.key, now) + amount > c.limit:
                return i
        for c in counters:
            value, expires = self._counters.get(c.key, (0, 0.0))
            if expires <= now:
                value, expires = 0, now + max(1, c.ttl_seconds)
            self._counters[c.key] = (value + amount, expires)
        return -1

    async def adjust(self, counters: list[Counter], delta: int) -> None:
        now = time.monotonic()
        for c in counters:
            value, expires = self._counters.get(c.key, (0, 0.0))
            if expires > now:
                self._counters[c.key] = (max(0, value + delta), expires)

    async def hit(self, key: str, window_seconds: float) -> tuple[int, float]:
        now = time.monotonic()
        self._sweep(now)
        value, expires = self._counters.get(key, (0, 0.0))
        if expires <= now:
            value, expires = 0, now + window_seconds
        self._counters[key] = (value + 1, expires)
        return value + 1, expires - now

    async def usage(self, keys: list[str]) -> list[int]:
        now = time.monotonic()
        return [self._value(k, now) for k in keys]

    async def forget(self, pattern_keys: list[str]) -> int:
        import fnmatch

        removed = 0
        for store in (self._tat, self._leases, self._counters):
            for key in [k for k in store if any(fnmatch.fnmatchcase(k, p) for p in pattern_keys)]:
                del store[key]
                removed += 1
        return removed

    async def close(self) -> None:
        return None
