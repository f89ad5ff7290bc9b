"""Semantic cache and routing benchmark (llm-orchestrator's cache.py, routing.py, pricing.py):

1. precision and recall of the similarity threshold on 72 hand-written pairs: 36 paraphrases
   that must hit and 36 near misses that must not (another country, number, unit, person...);
2. latency of a cache hit (exact, semantic; in-process backend, real embedding model) against a
   fresh answer of the embedded model (SmolLM2-135M, llama.cpp, 64 tokens);
3. cost of a scripted mixed workload (FAQs asked again and reworded, code, design tasks) sent
   all to the strong model, routed by `auto`, and routed with the cache, at list prices.

    flock /tmp/heavy.lock .venv/bin/python bench/semantic_cache.py   # writes bench/results/semantic_cache.md
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "services/llm-orchestrator/src"), str(ROOT / "libs/common/src")]

import numpy as np  # noqa: E402

from chatbot_common.embedding import get_embedder  # noqa: E402
from chatbot_common.settings import EmbeddingSettings  # noqa: E402
from chatbot_common.tokens import ByteEstimate  # noqa: E402
from llm_orchestrator.cache import CachedAnswer, MemoryBackend, SemanticCache, normalise  # noqa: E402
from llm_orchestrator.pricing import DEFAULT_PRICES, PriceTable, TokenUse  # noqa: E402
from llm_orchestrator.providers.base import ChatMessage, GenParams  # noqa: E402
from llm_orchestrator.routing import ModelRouter, RouteConfig, RouteRule, Signals, complexity, has_code  # noqa: E402

HIT = [
    ("What is the capital of France?", "Tell me France's capital"),
    ("What is the capital of France?", "What's the capital city of France?"),
    ("How do I reset my password?", "How can I reset my password?"),
    ("How do I reset my password?", "I forgot my password, how do I change it?"),
    ("What are your opening hours?", "When are you open?"),
    ("How tall is Mount Everest?", "What is the height of Mount Everest?"),
    ("Who wrote Hamlet?", "Who is the author of Hamlet?"),
    ("How many days are in a leap year?", "How many days does a leap year have?"),
    ("What is the boiling point of water?", "At what temperature does water boil?"),
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("What is machine learning?", "Can you explain what machine learning is?"),
    ("How do I export my data?", "How can I download an export of my data?"),
    ("What is the speed of light?", "How fast does light travel?"),
    ("Where is the Eiffel Tower?", "Where is the Eiffel Tower located?"),
    ("How do I contact support?", "How can I get in touch with support?"),
    ("What is the population of Japan?", "How many people live in Japan?"),
    ("What does HTTP stand for?", "What is HTTP short for?"),
    ("How do I change my email address?", "How can I update my email address?"),
    ("What is photosynthesis?", "Explain photosynthesis"),
    ("How many continents are there?", "How many continents does the Earth have?"),
    ("What is the largest ocean?", "Which ocean is the biggest?"),
    ("How do I enable two-factor authentication?", "How can I turn on two-factor authentication?"),
    ("What is the refund policy?", "What is your policy on refunds?"),
    ("Who painted the Mona Lisa?", "Who was the painter of the Mona Lisa?"),
    ("What is the chemical symbol for gold?", "Which chemical symbol does gold have?"),
    ("How do I add a new user?", "How can I add a user?"),
    ("What is an API key?", "What's an API key?"),
    ("What time zone is London in?", "Which time zone does London use?"),
    ("How do I delete my account?", "How can I delete my account?"),
    ("What is the freezing point of water?", "At what temperature does water freeze?"),
    ("Summarise the holiday policy", "Give me a summary of the holiday policy"),
    ("What is the VPN address?", "What's the address of the VPN?"),
    ("Translate 'good morning' into German", "How do you say 'good morning' in German?"),
    ("What is a prime number?", "Define a prime number"),
    ("How many legs does a spider have?", "How many legs do spiders have?"),
    ("What is the distance from the Earth to the Moon?", "How far is the Moon from the Earth?"),
]
MISS = [
    ("What is the capital of France?", "What is the capital of Spain?"),
    ("What is the capital of France?", "What is the population of France?"),
    ("How do I reset my password?", "How do I reset my username?"),
    ("What are your opening hours?", "What are your opening hours on Sunday?"),
    ("How tall is Mount Everest?", "How tall is K2?"),
    ("Who wrote Hamlet?", "Who wrote Macbeth?"),
    ("How many days are in a leap year?", "How many days are in February?"),
    ("What is the boiling point of water?", "What is the boiling point of ethanol?"),
    ("How do I cancel my subscription?", "How do I upgrade my subscription?"),
    ("What is machine learning?", "What is deep learning?"),
    ("How do I export my data?", "How do I import my data?"),
    ("What is the speed of light?", "What is the speed of sound?"),
    ("Where is the Eiffel Tower?", "Where is the Statue of Liberty?"),
    ("How do I contact support?", "How do I contact sales?"),
    ("What is the population of Japan?", "What is the population of China?"),
    ("What does HTTP stand for?", "What does HTTPS stand for?"),
    ("How do I change my email address?", "How do I change my phone number?"),
    ("What is photosynthesis?", "What is respiration?"),
    ("How many continents are there?", "How many countries are there?"),
    ("What is the largest ocean?", "What is the smallest ocean?"),
    ("How do I enable two-factor authentication?", "How do I disable two-factor authentication?"),
    ("What is the refund policy?", "What is the shipping policy?"),
    ("Who painted the Mona Lisa?", "Who painted The Starry Night?"),
    ("What is the chemical symbol for gold?", "What is the chemical symbol for silver?"),
    ("How do I add a new user?", "How do I remove a user?"),
    ("What is an API key?", "What is an SSH key?"),
    ("What time zone is London in?", "What time zone is New York in?"),
    ("How do I delete my account?", "How do I delete a document?"),
    ("What is the freezing point of water?", "What is the melting point of iron?"),
    ("Summarise the holiday policy", "Summarise the expenses policy"),
    ("What is the VPN address?", "What is the Wi-Fi password?"),
    ("Translate 'good morning' into German", "Translate 'good morning' into French"),
    ("What is a prime number?", "What is a perfect number?"),
    ("How many legs does a spider have?", "How many legs does an insect have?"),
    ("What is the distance from the Earth to the Moon?", "What is the distance from the Earth to the Sun?"),
    ("Convert 10 miles to kilometres", "Convert 10 kilometres to miles"),
]
THRESHOLDS = [0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.96]


def pair_scores(embed) -> tuple[np.ndarray, np.ndarray]:
    def score(pairs):
        a = embed([normalise(x) for x, _ in pairs])
        b = embed([normalise(y) for _, y in pairs])
        return np.sum(a * b, axis=1)
    return score(HIT), score(MISS)


def precision_recall(hit: np.ndarray, miss: np.ndarray, t: float) -> tuple[float, float, int, int]:
    tp, fp = int(np.sum(hit >= t)), int(np.sum(miss >= t))
    return (tp / (tp + fp) if tp + fp else 1.0), tp / len(hit), tp, fp


async def latency(embed) -> dict[str, list[float]]:
    cache = SemanticCache(MemoryBackend(3600, 5000), lambda: embed)
    keys = {}
    for i, (question, _) in enumerate(HIT):
        k = cache.key(cacheable=True, tenant_id="t", user_id="u", model="m", messages=[ChatMessage("user", question)], params=GenParams())
        _, vector = await cache.lookup(k)
        await cache.store(k, vector, CachedAnswer("A cached answer of a few words. " * 8, "local", "m", "stop", "0", "u", time.time()))
        keys[question] = k
    out: dict[str, list[float]] = {"exact hit": [], "semantic hit": [], "miss": []}
    for _ in range(3):
        for question, para in HIT:
            for name, text in (("exact hit", question), ("semantic hit", para), ("miss", "Completely unrelated: " + para)):
                k = cache.key(cacheable=True, tenant_id="t", user_id="u", model="m", messages=[ChatMessage("user", text)], params=GenParams())
                started = time.perf_counter()
                await cache.lookup(k)
                out[name].append((time.perf_counter() - started) * 1000)
    return out


async def fresh_local() -> tuple[list[float], list[float]]:
    from chatbot_common.tokens import bundled_model_path
    from llm_orchestrator.providers.local import LocalProvider

    provider = LocalProvider(model_path=bundled_model_path(), model_name="smollm2", n_ctx=2048, threads=None, max_queue=4,
                             default_max_tokens=64, stream_interval=0.0)
    totals, ttfts = [], []
    for question, _ in HIT[:5]:
        started = time.perf_counter()
        first = None
        async for item in provider.stream("smollm2", [ChatMessage("user", question)], GenParams(max_tokens=64, temperature=0)):
            if first is None:
                first = time.perf_counter()
        totals.append((time.perf_counter() - started) * 1000)
        ttfts.append(((first or time.perf_counter()) - started) * 1000)
    await provider.aclose()
    return totals, ttfts


def workload() -> list[tuple[str, int]]:
    """(prompt, completion tokens the answer takes): 300 requests, as a support desk sees them."""
    faqs = [q for q, _ in HIT]
    rewordings = [p for _, p in HIT]
    code = ["Why does this raise IndexError?\n```python\ndef first(xs):\n    return xs[0]\nfirst([])\n```",
            "Fix this SQL:\nSELECT name, count(*) FROM users;\nGROUP BY name"]
    design = ["Design a multi-region deployment for our chat platform. Compare active-active with active-passive, explain the "
              "trade-offs for consistency and cost, analyze failure modes step by step and justify a migration plan."]
    requests = []
    for i in range(300):
        kind = i % 10
        if kind < 5:
            requests.append((faqs[(i * 7) % len(faqs)], 60))  # FAQs, asked again and again
        elif kind < 7:
            requests.append((rewordings[(i * 5) % len(rewordings)], 60))  # the same, reworded
        elif kind < 8:
            requests.append((f"Question {i}: what is {i} times {i + 3}?", 20))  # one-offs
        elif kind < 9:
            requests.append((code[i % 2], 250))
        else:
            requests.append((design[0], 700))
    return requests


async def costs(embed) -> dict[str, tuple[Decimal, int]]:
    prices = PriceTable(DEFAULT_PRICES)
    counter = ByteEstimate()
    strong, cheap = ("openai", "gpt-4o"), ("openai", "gpt-4o-mini")
    router = ModelRouter({"auto": RouteConfig(tiers={"economy": "openai:gpt-4o-mini", "premium": "openai:gpt-4o"},
                                              default_tier="economy",
                                              rules=[RouteRule(tier="premium", code=True), RouteRule(tier="premium", min_complexity=0.4)])})
    cache = SemanticCache(MemoryBackend(86_400, 5000), lambda: embed)
    system = 60  # tokens of the system prompt every request carries
    result = {"all to gpt-4o": [Decimal(0), 0], "routed (auto)": [Decimal(0), 0], "routed + semantic cache": [Decimal(0), 0]}
    for prompt, completion in workload():
        tokens = counter.count([prompt])[0] + system
        result["all to gpt-4o"][0] += prices.cost(*strong, TokenUse(tokens, completion))
        result["all to gpt-4o"][1] += 1
        route = router.choose("auto", Signals(tokens, has_code(prompt), complexity(prompt)))
        target = strong if route.tier == "premium" else cheap
        cost = prices.cost(*target, TokenUse(tokens, completion))
        result["routed (auto)"][0] += cost
        result["routed (auto)"][1] += 1
        k = cache.key(cacheable=True, tenant_id="t", user_id="u", model=f"{target[0]}:{target[1]}",
                      messages=[ChatMessage("user", prompt)], params=GenParams())
        hit, vector = await cache.lookup(k)
        if hit is None:
            result["routed + semantic cache"][0] += cost
            result["routed + semantic cache"][1] += 1
            await cache.store(k, vector, CachedAnswer("answer", *target, "stop", str(cost), "u", time.time()))
    return {k: (v[0], v[1]) for k, v in result.items()}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def main() -> None:
    embed = get_embedder(EmbeddingSettings()).encode
    embed(["warm up"])
    hit, miss = pair_scores(embed)
    lines = ["# Semantic cache and routing benchmark", "",
             f"`python bench/semantic_cache.py` on this machine (2 cores); embedding model all-MiniLM-L6-v2 ({EmbeddingSettings().backend}).", "",
             f"## Threshold: precision and recall on {len(HIT)} paraphrase pairs (must hit) and {len(MISS)} near misses (must not)", "",
             "| threshold | precision | recall | paraphrases hit | near misses hit |", "|---|---|---|---|---|"]
    for t in THRESHOLDS:
        p, r, tp, fp = precision_recall(hit, miss, t)
        mark = " **(default)**" if abs(t - 0.90) < 1e-9 else ""
        lines.append(f"| {t:.2f}{mark} | {p:.3f} | {r:.3f} | {tp}/{len(HIT)} | {fp}/{len(MISS)} |")
    lines += ["", f"Similarity of paraphrases: min {hit.min():.3f}, median {np.median(hit):.3f}; of near misses: median {np.median(miss):.3f}, "
              f"max {miss.max():.3f}.", ""]
    worst = sorted(zip(miss, MISS), reverse=True)[:5]
    lines += ["Near misses scoring highest (what a lower threshold would serve wrongly):", ""]
    lines += [f"- {s:.3f}: \"{a}\" / \"{b}\"" for s, (a, b) in worst]
    lat = await latency(embed)
    totals, ttfts = await fresh_local()
    lines += ["", "## Latency: a cache hit against a fresh answer of the embedded model", "",
              "| path | p50 ms | p95 ms |", "|---|---|---|"]
    for name, values in lat.items():
        lines.append(f"| cache lookup, {name} ({len(values)} lookups) | {pct(values, 50):.2f} | {pct(values, 95):.2f} |")
    lines.append(f"| fresh local answer, first token ({len(ttfts)} answers) | {pct(ttfts, 50):.0f} | {pct(ttfts, 95):.0f} |")
    lines.append(f"| fresh local answer, whole (64 tokens at most) | {pct(totals, 50):.0f} | {pct(totals, 95):.0f} |")
    spent = await costs(embed)
    base = spent["all to gpt-4o"][0]
    lines += ["", "## Cost of a scripted mixed workload (300 requests: 50% FAQs, 20% reworded FAQs, 10% one-offs, 10% code, 10% design)", "",
              "List prices from llm_orchestrator.pricing (USD per million tokens: gpt-4o 2.50/10.00, gpt-4o-mini 0.15/0.60); "
              "`auto` sends code and complex prompts to gpt-4o and the rest to gpt-4o-mini.", "",
              "| strategy | provider calls | cost USD | saved |", "|---|---|---|---|"]
    for name, (cost, calls) in spent.items():
        lines.append(f"| {name} | {calls} | {cost.quantize(Decimal('0.000001'))} | {(1 - cost / base):.1%} |")
    out = ROOT / "bench" / "results" / "semantic_cache.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
