"""The semantic cache: an answer given once is given again, without a provider call, to the
same question or one that means the same, asked again by the same person (in the same tenant),
of the same model, under the same system prompt and generation settings.

Lookup is an exact match first (the normalised question's hash; no embedding needed), then the
nearest earlier question by cosine similarity of all-MiniLM-L6-v2 embeddings
(chatbot_common.embedding, loaded once, on first use) at or above a threshold. The default
threshold, 0.90, is measured by bench/semantic_cache.py on paraphrase and near-miss pairs
(bench/results/semantic_cache.md): near misses ("capital of France" / "of Spain") score high
with this model, so the threshold favours precision over recall.

What may be cached is narrow on purpose (unlike LiteLLM's, which replays answers into
multi-turn traffic): one user message (system messages aside) and no assistant turn, no
retrieved passages and no tools (the caller vouches), no personal data detected in the question,
neither the person nor the tenant opted out, and a known user (an anonymous caller is never
cached). Everything is scoped by a hash of tenant, user, model, system prompt and settings, so
no entry is ever seen across users, tenants or configurations: template-like questions carrying
one person's details ("my salary is 52000" / "61000") embed above the threshold, and a
colleague must not be given that answer, nor be able to plant one for others.

Sharing within a tenant is opt-in (LLM_CACHE_SHARED_TENANTS), and then only for exact matches:
an answer is also kept under the tenant's shared scope, and another user of the tenant asking
the very same normalised question gets it (marked `cached: true`, which tells them that someone
in the tenant asked it before: that is what the tenant opted into). Semantic matches never leave
the user's own scope. Entries expire (TTL) and remember who created them, so that erasing a
user removes theirs, shared ones included.

Backends: in-process (the embedded default) or Redis (LLM_CACHE_REDIS_URL / REDIS_URL), where
replicas share it. A cache that fails never fails the request: it is then a miss. Questions and
answers are never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import orjson
from prometheus_client import Counter

from chatbot_common.guardrails.redaction import Redactor
from llm_orchestrator.providers.base import ChatMessage, GenParams

log = logging.getLogger(__name__)

LOOKUPS = Counter("llm_cache_lookups_total", "Semantic cache lookups by outcome", ["outcome"])  # exact_hit | semantic_hit | miss
SKIPPED = Counter("llm_cache_skipped_total", "Requests the semantic cache did not consider, by reason", ["reason"])
STORED = Counter("llm_cache_stored_total", "Answers kept in the semantic cache")
ERRORS = Counter("llm_cache_errors_total", "Cache backend failures (the request went on as a miss)", ["operation"])

DEFAULT_THRESHOLD = 0.90
_CANARY = re.compile(r"\Acnry-[a-z]{20}\n")
_NAMESPACE = "llmcache:v1"


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    provider: str
    model: str
    finish_reason: str
    cost: str  # what it cost when generated ("" unknown)
    user_id: str
    created: float


@dataclass(frozen=True)
class Hit:
    answer: CachedAnswer
    similarity: float  # 1.0 for an exact match
    exact: bool


@dataclass(frozen=True)
class CacheKey:
    scope: str  # tenant, user, model, system prompt, settings: exact and semantic lookups
    entry: str  # the normalised question
    question: str
    user_id: str
    shared_scope: str = ""  # tenant, model, system prompt, settings; only for opted-in tenants, exact lookups only


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def scope_of(tenant_id: str, user_id: str | None, model: str, system_prompt: str, params: GenParams) -> str:
    """One user's scope, or (user_id None) the tenant's shared one, for exact matches only.
    The two never collide: the user part is tagged."""
    settings = orjson.dumps([params.temperature, params.max_tokens, params.top_p, list(params.stop), params.seed]).decode()
    who = "shared" if user_id is None else f"user:{user_id}"
    return _digest(tenant_id, who, model, system_prompt, settings)


class Backend(Protocol):
    async def get(self, scope: str, entry: str) -> CachedAnswer | None: ...
    async def vectors(self, scope: str) -> tuple[list[str], np.ndarray]: ...
    async def put(self, scope: str, entry: str, vector: np.ndarray, answer: CachedAnswer) -> None: ...
    async def forget_user(self, user_id: str) -> int: ...
    async def aclose(self) -> None: ...


class MemoryBackend:
    """Per scope, entries in insertion order (the oldest goes first when a scope is full)."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._scopes: dict[str, OrderedDict[str, tuple[CachedAnswer, np.ndarray]]] = {}

    def _live(self, scope: str) -> OrderedDict[str, tuple[CachedAnswer, np.ndarray]]:
        entries = self._scopes.get(scope)
        if entries is None:
            return OrderedDict()
        cutoff = self._clock() - self._ttl
        for entry in [e for e, (answer, _) in entries.items() if answer.created <= cutoff]:
            del entries[entry]
        if not entries:
            del self._scopes[scope]
        return entries

    async def get(self, scope: str, entry: str) -> CachedAnswer | None:
        found = self._live(scope).get(entry)
        return found[0] if found else None

    async def vectors(self, scope: str) -> tuple[list[str], np.ndarray]:
        entries = self._live(scope)
        if not entries:
            return [], np.zeros((0, 0), dtype=np.float32)
        return list(entries), np.stack([vector for _, vector in entries.values()])

    async def put(self, scope: str, entry: str, vector: np.ndarray, answer: CachedAnswer) -> None:
        entries = self._scopes.setdefault(scope, OrderedDict())
        entries.pop(entry, None)
        entries[entry] = (answer, vector)
        while len(entries) > self._max:
            entries.popitem(last=False)

    async def forget_user(self, user_id: str) -> int:
        removed = 0
        for scope, entries in list(self._scopes.items()):
            for entry in [e for e, (answer, _) in entries.items() if answer.user_id == user_id]:
                del entries[entry]
                removed += 1
            if not entries:
                del self._scopes[scope]
        return removed

    async def aclose(self) -> None:
        self._scopes.clear()


class RedisBackend:
    """Per scope: each entry a JSON string with its own expiry, the scope's vectors in a hash, its
    entries' ages in a sorted set (to drop the oldest when full); per user, the set of their
    entries (for erasure). Keys carry no text, only hashes."""

    def __init__(self, url: str, ttl: float, max_entries: int, timeout: float) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._ttl = max(1, int(ttl))
        self._max = max_entries

    @staticmethod
    def _keys(scope: str) -> tuple[str, str]:
        return f"{_NAMESPACE}:v:{scope}", f"{_NAMESPACE}:o:{scope}"

    @staticmethod
    def _entry_key(scope: str, entry: str) -> str:
        return f"{_NAMESPACE}:e:{scope}:{entry}"

    async def get(self, scope: str, entry: str) -> CachedAnswer | None:
        raw = await self._redis.get(self._entry_key(scope, entry))
        return CachedAnswer(**orjson.loads(raw)) if raw else None

    async def vectors(self, scope: str) -> tuple[list[str], np.ndarray]:
        vectors_key, order_key = self._keys(scope)
        # Entries that expired on their own leave their vector behind: dropped here.
        cutoff = time.time() - self._ttl
        expired = await self._redis.zrangebyscore(order_key, "-inf", cutoff)
        if expired:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hdel(vectors_key, *expired)
                pipe.zrem(order_key, *expired)
                await pipe.execute()
        stored = await self._redis.hgetall(vectors_key)
        if not stored:
            return [], np.zeros((0, 0), dtype=np.float32)
        ids = [key.decode() for key in stored]
        return ids, np.stack([np.frombuffer(value, dtype=np.float32) for value in stored.values()])

    async def put(self, scope: str, entry: str, vector: np.ndarray, answer: CachedAnswer) -> None:
        vectors_key, order_key = self._keys(scope)
        user_key = f"{_NAMESPACE}:u:{answer.user_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._entry_key(scope, entry), orjson.dumps(asdict(answer)), ex=self._ttl)
            pipe.hset(vectors_key, entry, np.asarray(vector, dtype=np.float32).tobytes())
            pipe.zadd(order_key, {entry: answer.created})
            pipe.expire(vectors_key, self._ttl)
            pipe.expire(order_key, self._ttl)
            pipe.sadd(user_key, f"{scope}:{entry}")
            pipe.expire(user_key, self._ttl)
            pipe.zcard(order_key)
            size = (await pipe.execute())[-1]
        if size > self._max:
            oldest = [e.decode() for e in await self._redis.zrange(order_key, 0, size - self._max - 1)]
            if oldest:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.hdel(vectors_key, *oldest)
                    pipe.zrem(order_key, *oldest)
                    pipe.delete(*(self._entry_key(scope, e) for e in oldest))
                    await pipe.execute()

    async def forget_user(self, user_id: str) -> int:
        user_key = f"{_NAMESPACE}:u:{user_id}"
        members = [m.decode() for m in await self._redis.smembers(user_key)]
        removed = 0
        for member in members:
            scope, _, entry = member.partition(":")
            vectors_key, order_key = self._keys(scope)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._entry_key(scope, entry))
                pipe.hdel(vectors_key, entry)
                pipe.zrem(order_key, entry)
                deleted, *_ = await pipe.execute()
            removed += int(deleted)
        await self._redis.delete(user_key)
        return removed

    async def aclose(self) -> None:
        await self._redis.aclose()


class Embed(Protocol):
    def __call__(self, texts: list[str]) -> np.ndarray: ...


class SemanticCache:
    def __init__(self, backend: Backend, embed_loader: Callable[[], Embed], threshold: float = DEFAULT_THRESHOLD,
                 disabled_tenants: frozenset[str] = frozenset(), timeout: float = 1.0,
                 shared_tenants: frozenset[str] = frozenset()) -> None:
        self.backend = backend
        self.threshold = threshold
        self._embed_loader = embed_loader
        self._embed: Embed | None = None
        self._loading: asyncio.Lock | None = None
        self._disabled_tenants = disabled_tenants
        self._shared_tenants = shared_tenants  # whose users share exact matches
        self._timeout = timeout
        self._pii = Redactor(links=False)
        self._warming: asyncio.Task | None = None

    async def _embedding(self, text: str) -> np.ndarray:
        if self._embed is None:
            self._loading = self._loading or asyncio.Lock()
            async with self._loading:
                if self._embed is None:
                    self._embed = await asyncio.to_thread(self._embed_loader)
        return (await asyncio.to_thread(self._embed, [text]))[0]

    def warm_up(self) -> None:
        """Loads the embedding model in the background, so the first cacheable request does not wait for it."""
        async def load() -> None:
            try:
                await self._embedding("warm up")
            except Exception as exc:  # noqa: BLE001 - retried by the first lookup, which fails open
                ERRORS.labels("load").inc()
                log.warning("semantic cache: the embedding model did not load", extra={"error": type(exc).__name__})

        self._warming = asyncio.get_running_loop().create_task(load())

    def key(self, *, cacheable: bool, tenant_id: str, user_id: str, model: str, messages: list[ChatMessage],
            params: GenParams) -> CacheKey | None:
        """The request's place in the cache, or None when it may not be cached (counted by reason)."""
        reason = self._refusal(cacheable, tenant_id, user_id, messages)
        if reason:
            SKIPPED.labels(reason).inc()
            return None
        # The chat path heads each system prompt with a fresh canary (guardrails.canary): not part of the scope.
        system = "\n\n".join(_CANARY.sub("", m.content, count=1) for m in messages if m.role == "system")
        question = next(m.content for m in messages if m.role == "user")
        shared = scope_of(tenant_id, None, model, system, params) if tenant_id in self._shared_tenants else ""
        return CacheKey(scope_of(tenant_id, user_id, model, system, params), _digest(normalise(question)), question, user_id,
                        shared)

    def _refusal(self, cacheable: bool, tenant_id: str, user_id: str, messages: list[ChatMessage]) -> str:
        if not cacheable:
            return "not_cacheable"  # opted out, regenerate or edit, retrieval or tools: the caller knows
        if tenant_id in self._disabled_tenants:
            return "tenant_opted_out"
        if not user_id:
            return "no_user"  # anonymous callers would share one scope
        roles = [m.role for m in messages]
        if roles.count("user") != 1 or any(r not in ("system", "user") for r in roles):
            return "multi_turn"
        question = next(m.content for m in messages if m.role == "user")
        if self._pii.redact(question)[1]:
            return "personal_data"
        return ""

    async def lookup(self, key: CacheKey) -> tuple[Hit | None, np.ndarray | None]:
        """A hit, or the question's embedding (for storing the fresh answer) on a miss."""
        try:
            async with asyncio.timeout(self._timeout):
                exact = await self.backend.get(key.scope, key.entry)
                if exact is None and key.shared_scope:
                    # The tenant opted in: the very same question asked by a colleague (exact only).
                    exact = await self.backend.get(key.shared_scope, key.entry)
            if exact is not None:
                LOOKUPS.labels("exact_hit").inc()
                return Hit(exact, 1.0, True), None
            vector = await self._embedding(normalise(key.question))
            async with asyncio.timeout(self._timeout):
                # Semantic matches only among the user's own entries, never the shared scope's.
                ids, matrix = await self.backend.vectors(key.scope)
                if ids:
                    scores = matrix @ vector
                    best = int(np.argmax(scores))
                    if float(scores[best]) >= self.threshold:
                        found = await self.backend.get(key.scope, ids[best])
                        if found is not None:
                            LOOKUPS.labels("semantic_hit").inc()
                            return Hit(found, float(scores[best]), False), None
        except Exception as exc:  # noqa: BLE001 - a broken cache is a miss, never a failed answer
            ERRORS.labels("lookup").inc()
            log.warning("semantic cache lookup failed", extra={"error": type(exc).__name__})
            return None, None
        LOOKUPS.labels("miss").inc()
        return None, vector

    async def store(self, key: CacheKey, vector: np.ndarray | None, answer: CachedAnswer) -> None:
        try:
            if vector is None:
                vector = await self._embedding(normalise(key.question))
            async with asyncio.timeout(self._timeout):
                await self.backend.put(key.scope, key.entry, vector, answer)
                if key.shared_scope:
                    await self.backend.put(key.shared_scope, key.entry, vector, answer)
            STORED.inc()
        except Exception as exc:  # noqa: BLE001
            ERRORS.labels("store").inc()
            log.warning("semantic cache store failed", extra={"error": type(exc).__name__})

    async def forget_user(self, user_id: str) -> int:
        return await self.backend.forget_user(user_id)

    async def aclose(self) -> None:
        await self.backend.aclose()
