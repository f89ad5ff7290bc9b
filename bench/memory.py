"""Conversation memory's cost on a turn, on this machine: the same long conversation through the
whole fleet (gateway -> conversation -> llm-orchestrator), with memory off (no summaries, no
titles, no user memory: the history is only cut to its allowance) and on (running summaries and
titles written in the background by the embedded model, user memory on with five facts), for

  - the embedded model answering (it also writes the summaries, so turns and summaries share the
    two cores: what a one-machine install sees), and
  - a fast OpenAI-compatible fake upstream answering (summaries still by the embedded model, in
    the background), also with user memory alone (no summaries or titles, so no model runs in
    the background): the conversation service's own added work on the hot path.

Client-measured turn latency (POST /api/v1/chat) p50/p95, the fleet's TTFT, the model's prompt
tokens, and the summaries written. Same history allowance in both runs.

    python bench/memory.py [--turns 60] [--fake-turns 200]
Writes bench/results/memory.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from e2e_support import NO_RATE_LIMITS  # noqa: E402
from fake_openai_upstream import start_upstream  # noqa: E402
from fleet import Fleet, Ports  # noqa: E402

HISTORY_TOKENS = 240
FACTS = ["I work in the Berlin office", "My manager is Ana", "I prefer metric units", "My team is Platform", "I use Linux"]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


MODES = {"off": "off", "facts": "user memory only", "on": "on"}
POSITIONS = (10, 100, 190)


def run(turns: int, mode: str, model: str, upstream_url: str) -> dict:
    background = mode == "on"
    memory = mode != "off"
    env = {"LLM_LOCAL_N_CTX": "2048", "LLM_MODEL_ALIASES": json.dumps({"default": ["local:smollm2-135m-instruct"]}),
           "LLM_OPENAI_COMPATIBLE": json.dumps([{"name": "fake", "base_url": upstream_url, "models": ["fake-model"]}]),
           "CONVERSATION_HISTORY_TOKENS": str(HISTORY_TOKENS), "CONVERSATION_SUMMARY_KEEP_MESSAGES": "4",
           "CONVERSATION_SUMMARY_MAX_TOKENS": "64", "CONVERSATION_SUMMARY_ENABLED": str(background).lower(),
           "CONVERSATION_AUTO_TITLES": str(background).lower(), "GATEWAY_LOG_LEVEL": "warning", **NO_RATE_LIMITS}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        fleet = Fleet(Path(folder) / "var", Ports.free(), env, log_dir=Path(folder) / "logs")
        fleet.start(timeout=180)
        try:
            with httpx.Client(base_url=fleet.url, timeout=300) as http:
                email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
                http.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery"})
                token = http.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                if memory:
                    http.put("/api/v1/me/memory/settings", headers=headers, json={"enabled": True})
                    for fact in FACTS:
                        http.post("/api/v1/me/memory", headers=headers, json={"content": fact})
                latencies, ttfts, prompts, conversation_id = [], [], [], None
                for i in range(turns):
                    body = {"message": f"Turn {i}: my lucky number today is {i * 7 % 100}. Say something short about it.",
                            "max_tokens": 8, "temperature": 0.0, "model": model,
                            **({"conversation_id": conversation_id} if conversation_id else {})}
                    started = time.perf_counter()
                    reply = http.post("/api/v1/chat", headers=headers, json=body)
                    latencies.append((time.perf_counter() - started) * 1000)
                    reply.raise_for_status()
                    answer = reply.json()
                    conversation_id = answer["conversation_id"]
                    ttfts.append(answer["ttft_ms"])
                    prompts.append(answer["tokens_used"]["prompt"])
                conv = http.get(f"/api/v1/conversations/{conversation_id}", headers=headers).json()
        finally:
            fleet.stop()
        summaries = (Path(folder) / "logs" / "conversation.log").read_text().count('"msg":"conversation summary"')
    # Whether a turn's cost grows with the conversation: the mean of the 20 turns around the 10th,
    # 100th and 200th (while the conversation is that long).
    at = {n: statistics.mean(latencies[n - 10:n + 10]) for n in POSITIONS if n + 10 <= len(latencies)}
    return {"latency_p50": statistics.median(latencies), "latency_p95": pct(latencies, 0.95), "at": at,
            "ttft_p50": statistics.median(ttfts),
            "prompt_max": max(prompts), "prompt_last": prompts[-1], "summaries": summaries,
            "summary_covers": (conv.get("summary") or {}).get("messages", 0), "title": conv["title_source"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--fake-turns", type=int, default=200)
    args = parser.parse_args()
    upstream = start_upstream(tokens=8, gap_ms=2.0)
    rows = []
    try:
        for label, model, turns, modes in (("embedded model", "default", args.turns, ("off", "on")),
                                           ("fake upstream", "fake:fake-model", args.fake_turns, ("off", "facts", "on"))):
            for mode in modes:
                result = run(turns, mode, model, upstream.base_url)
                rows.append((label, turns, mode, result))
                print(label, mode, result, flush=True)
    finally:
        upstream.process.terminate()
    lines = [
        "# Memory benchmark", "",
        f"One conversation per row through the whole fleet (SQLite), answers of 8 tokens, history allowance {HISTORY_TOKENS} tokens; "
        f"2 cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Command: `python bench/memory.py --turns {args.turns} --fake-turns {args.fake_turns}`.", "",
        "Memory on: running summaries and titles written in the background by the embedded model, user memory on with five facts. "
        "Off: no summary, no title, no user memory (the history is only cut to its allowance). "
        "User memory only: the five facts in every prompt, nothing written in the background.", "",
        "Turn ms at 10, 100, 190: the mean client-measured turn time of the 20 turns around that one (turns 0-19, 90-109, "
        "180-199): flat when a turn's cost does not grow with the conversation.", "",
        "| answered by | turns | memory | turn p50 ms | turn p95 ms | turn ms at 10 / 100 / 190 | TTFT p50 ms "
        "| prompt tokens max | last | summaries written | summary covers (messages) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, turns, mode, r in rows:
        at = " / ".join(f"{r['at'][n]:.0f}" if n in r["at"] else "-" for n in POSITIONS)
        lines.append(f"| {label} | {turns} | {MODES[mode]} | {r['latency_p50']:.0f} | {r['latency_p95']:.0f} | {at} | "
                     f"{r['ttft_p50']:.0f} | {r['prompt_max']} | {r['prompt_last']} | {r['summaries']} | "
                     f"{r['summary_covers']} of {2 * turns} |")
    out = ROOT / "bench" / "results" / "memory.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
