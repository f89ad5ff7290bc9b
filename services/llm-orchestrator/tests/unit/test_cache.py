"""The semantic cache with the platform's embedding model (loaded once for the module), in
process and in the real Redis on 127.0.0.1: exact and paraphrased questions hit, near misses do
not, nothing crosses users, tenants, models, system prompts or settings (a tenant that opts in
shares exact matches only), only single-turn questions without personal data are considered,
and staging or production refuse the in-process cache."""

import os
import uuid

import pytest
import redis

from chatbot_common.embedding import get_embedder
from chatbot_common.settings import EmbeddingSettings
from llm_orchestrator.cache import CachedAnswer, MemoryBackend, RedisBackend, SemanticCache
from llm_orchestrator.providers.base import ChatMessage, GenParams
from llm_orchestrator.settings import LlmSettings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def embed():
    return get_embedder(EmbeddingSettings()).encode


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _redis_up() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.RedisError:
        return False


SHARED_TENANT = "t-shared-" + uuid.uuid4().hex


def _backend(kind: str):
    if kind == "redis":
        if not _redis_up():
            pytest.fail("the test Redis on 127.0.0.1:6379 is down (see ENVIRONMENT.md to restart it)")
        return RedisBackend(REDIS_URL, ttl=60, max_entries=100, timeout=2)
    return MemoryBackend(ttl=60, max_entries=100)


@pytest.fixture(params=["memory", "redis"])
async def cache(request, embed):
    cache = SemanticCache(_backend(request.param), lambda: embed, threshold=0.9, disabled_tenants=frozenset({"quiet-tenant"}),
                          timeout=5, shared_tenants=frozenset({SHARED_TENANT}))
    yield cache
    await cache.aclose()


def ask(question: str, system: str = "You are helpful.", *history: ChatMessage) -> list[ChatMessage]:
    return [ChatMessage("system", system), *history, ChatMessage("user", question)]


def key(cache, messages, tenant="t-" + uuid.uuid4().hex, user="u1", model="fake/fake-model", params=GenParams(), cacheable=True):
    return cache.key(cacheable=cacheable, tenant_id=tenant, user_id=user, model=model, messages=messages, params=params)


async def put(cache, k, text="Paris.", cost="0.00002"):
    _, vector = await cache.lookup(k)
    await cache.store(k, vector, CachedAnswer(text, "fake", "fake-model", "stop", cost, k.user_id, __import__("time").time()))


async def test_exact_then_paraphrase_hit_and_near_miss_does_not(cache):
    tenant = "t-" + uuid.uuid4().hex
    first = key(cache, ask("What is the capital of France?"), tenant)
    assert (await cache.lookup(first))[0] is None
    await put(cache, first)
    exact, _ = await cache.lookup(key(cache, ask("  what is the CAPITAL of France? "), tenant))
    assert exact is not None and exact.exact and exact.answer.text == "Paris."
    para, _ = await cache.lookup(key(cache, ask("What's the capital city of France?"), tenant))
    assert para is not None and not para.exact and para.similarity >= 0.9 and para.answer.cost == "0.00002"
    miss, vector = await cache.lookup(key(cache, ask("What is the capital of Spain?"), tenant))
    assert miss is None and vector is not None


async def test_nothing_crosses_tenants_models_system_prompts_or_settings(cache):
    tenant = "t-" + uuid.uuid4().hex
    await put(cache, key(cache, ask("What is the capital of France?"), tenant))
    same = ask("What is the capital of France?")
    assert (await cache.lookup(key(cache, same, tenant)))[0] is not None
    assert (await cache.lookup(key(cache, same, "t-" + uuid.uuid4().hex)))[0] is None
    assert (await cache.lookup(key(cache, same, tenant, model="fake/other-model")))[0] is None
    assert (await cache.lookup(key(cache, ask("What is the capital of France?", "Answer in French."), tenant)))[0] is None
    assert (await cache.lookup(key(cache, same, tenant, params=GenParams(temperature=0.2))))[0] is None


async def test_only_single_turn_questions_without_personal_data_and_not_opted_out(cache):
    follow_up = ask("And of Spain?", "You are helpful.", ChatMessage("user", "What is the capital of France?"),
                    ChatMessage("assistant", "Paris."))
    assert key(cache, follow_up) is None
    assert key(cache, ask("Email jane.doe@example.com the capital of France")) is None
    assert key(cache, ask("What is the capital of France?"), cacheable=False) is None
    assert key(cache, ask("What is the capital of France?"), tenant="quiet-tenant") is None
    assert key(cache, ask("What is the capital of France?"), user="") is None  # an anonymous caller
    assert key(cache, ask("What is the capital of France?")) is not None


SALARY = "My salary is {} a year and I am employee {}: how much is my monthly pay after 20% tax?"


async def test_a_colleague_never_gets_another_users_answer(cache):
    tenant = "t-" + uuid.uuid4().hex
    alice = key(cache, ask(SALARY.format(52000, "E-1001")), tenant, user="alice-" + tenant)
    await put(cache, alice, "Alice (E-1001): 52000 a year is 3466.67 a month after tax.")
    # Bob's question is the same template with his details: close enough to match Alice's...
    bob_question = SALARY.format(61000, "E-2002")
    own, _ = await cache.lookup(key(cache, ask(bob_question), tenant, user="alice-" + tenant))
    assert own is not None and not own.exact and own.similarity >= 0.9
    # ...but Bob is never given it, nor anything of Alice's, not even the very same question.
    for question in (bob_question, SALARY.format(52000, "E-1001"), "What's the capital of France?"):
        hit, vector = await cache.lookup(key(cache, ask(question), tenant, user="bob-" + tenant))
        assert hit is None and vector is not None, question
    # Nor can Bob plant an answer for Alice.
    await put(cache, key(cache, ask("What is the capital of France?"), tenant, user="bob-" + tenant), "Lyon.")
    assert (await cache.lookup(key(cache, ask("What is the capital of France?"), tenant, user="alice-" + tenant)))[0] is None
    await cache.forget_user("alice-" + tenant)
    await cache.forget_user("bob-" + tenant)


async def test_a_tenant_that_opts_in_shares_exact_matches_only(cache):
    alice, bob = "alice-" + uuid.uuid4().hex, "bob-" + uuid.uuid4().hex
    await put(cache, key(cache, ask(SALARY.format(52000, "E-1001")), SHARED_TENANT, user=alice), "3466.67")
    await put(cache, key(cache, ask("What is the capital of France?"), SHARED_TENANT, user=alice))
    # The very same (normalised) question: shared.
    exact, _ = await cache.lookup(key(cache, ask("  what is the capital of FRANCE? "), SHARED_TENANT, user=bob))
    assert exact is not None and exact.exact and exact.answer.text == "Paris."
    # A paraphrase, or the template with other details, is never answered from a colleague's entry.
    assert (await cache.lookup(key(cache, ask("What's the capital city of France?"), SHARED_TENANT, user=bob)))[0] is None
    assert (await cache.lookup(key(cache, ask(SALARY.format(61000, "E-2002")), SHARED_TENANT, user=bob)))[0] is None
    # ...while Alice's own paraphrase still finds hers.
    para, _ = await cache.lookup(key(cache, ask("What's the capital city of France?"), SHARED_TENANT, user=alice))
    assert para is not None and not para.exact
    # Another tenant's users share nothing, exact or not.
    other = "t-" + uuid.uuid4().hex
    await put(cache, key(cache, ask("Who wrote Hamlet?"), other, user=alice), "Shakespeare.")
    assert (await cache.lookup(key(cache, ask("Who wrote Hamlet?"), other, user=bob)))[0] is None
    # Erasing Alice removes her shared entries too.
    assert await cache.forget_user(alice) == 5  # two own and two shared in the shared tenant, one in the other
    assert (await cache.lookup(key(cache, ask("What is the capital of France?"), SHARED_TENANT, user=bob)))[0] is None


@pytest.mark.parametrize("env", ["staging", "production"])
def test_staging_and_production_refuse_the_in_process_cache(monkeypatch, refused_configuration, env):
    for name in ("LLM_CACHE_REDIS_URL", "REDIS_URL", "LLM_CACHE_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", env)
    # The key staging and production also need (MCP servers' credentials), so only the cache is missing.
    monkeypatch.setenv("LLM_SECRETS_KEY", "bW9zdGx5LWEtdGVzdC1rZXktb2YtMzItYnl0ZXMhISE=")
    (line,) = refused_configuration(LlmSettings)
    assert line.startswith("invalid configuration: LLM_CACHE_REDIS_URL: the in-process semantic cache is per replica")
    assert "REDIS_URL" in line and "LLM_CACHE_ENABLED=false" in line
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert LlmSettings().cache_redis_url == "redis://127.0.0.1:6379/0"
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("LLM_CACHE_ENABLED", "false")
    assert not LlmSettings().cache_enabled
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.delenv("LLM_CACHE_ENABLED")
    assert LlmSettings().cache_enabled and not LlmSettings().cache_redis_url


async def test_erasing_a_user_removes_their_entries_only(cache):
    tenant = "t-" + uuid.uuid4().hex
    await put(cache, key(cache, ask("What is the capital of France?"), tenant, user="erased-" + tenant))
    await put(cache, key(cache, ask("How tall is Mount Everest?"), tenant, user="kept-" + tenant), "8,849 m")
    assert await cache.forget_user("erased-" + tenant) == 1
    assert (await cache.lookup(key(cache, ask("What is the capital of France?"), tenant, user="erased-" + tenant)))[0] is None
    assert (await cache.lookup(key(cache, ask("How tall is Mount Everest?"), tenant, user="kept-" + tenant)))[0] is not None
    await cache.forget_user("kept-" + tenant)


async def test_entries_expire_after_their_ttl(embed):
    clock = Clock()
    cache = SemanticCache(MemoryBackend(ttl=60, max_entries=10, clock=clock), lambda: embed)
    k = key(cache, ask("What is the capital of France?"))
    _, vector = await cache.lookup(k)
    await cache.store(k, vector, CachedAnswer("Paris.", "fake", "fake-model", "stop", "", "u1", clock.now))
    clock.now += 59
    assert (await cache.lookup(k))[0] is not None
    clock.now += 2
    assert (await cache.lookup(k))[0] is None


async def test_redis_entries_carry_their_ttl_and_a_full_scope_drops_the_oldest(embed):
    if not _redis_up():
        pytest.fail("the test Redis on 127.0.0.1:6379 is down")
    cache = SemanticCache(RedisBackend(REDIS_URL, ttl=30, max_entries=2, timeout=2), lambda: embed)
    tenant = "t-" + uuid.uuid4().hex
    keys = [key(cache, ask(q), tenant, user="u-" + tenant) for q in
            ("What is the capital of France?", "How tall is Mount Everest?", "Who wrote Hamlet?")]
    for k in keys:
        await put(cache, k)
    client = redis.Redis.from_url(REDIS_URL)
    assert 0 < client.ttl(f"llmcache:v1:e:{keys[2].scope}:{keys[2].entry}") <= 30
    assert (await cache.lookup(keys[0]))[0] is None  # the oldest made room
    assert (await cache.lookup(keys[2]))[0] is not None
    await cache.forget_user("u-" + tenant)
    await cache.aclose()


async def test_a_cache_that_is_down_is_a_miss(embed):
    cache = SemanticCache(RedisBackend("redis://127.0.0.1:1/0", ttl=30, max_entries=2, timeout=0.5), lambda: embed, timeout=1)
    hit, _ = await cache.lookup(key(cache, ask("What is the capital of France?")))
    assert hit is None
    await cache.aclose()
