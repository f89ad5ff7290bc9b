"""Fallback latency: what a user pays when the first provider of a chain is down.

A fleet whose alias `chain` is [primary, secondary]: the primary's address refuses connections,
the secondary is the fake upstream (20 tokens, 10 ms apart). Through the gateway's `/v1` (what
partners call), side by side and interleaved so that noise hits both alike:

  direct  - `secondary:fake-model`, no fallback involved;
  open    - `chain` once the primary's circuit is open (every request goes straight on);
  closed  - `chain` with the primary's circuit closed again (each request first tries the dead
            primary: the connection refusal, then the fallback), for comparison.

TTFT p50/p95/p99 per case, and what the fallback adds at p99 (target: at most 10 ms with the
circuit open).

    python bench/resilience.py [--requests 200]
Writes bench/results/resilience.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from fleet import Fleet, Ports, free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from streaming import fleet_token, pct, wait_http  # noqa: E402

THRESHOLD, COOLDOWN = 5, 3600.0  # the circuit stays open for the whole "open" phase


async def ttft(client: httpx.AsyncClient, url: str, token: str, model: str) -> float:
    body = {"model": model, "stream": True, "max_tokens": 20, "messages": [{"role": "user", "content": "Count for me."}]}
    started = time.perf_counter()
    first = None
    async with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {token}"}) as reply:
        if reply.status_code != 200:
            raise RuntimeError(f"status {reply.status_code}: {(await reply.aread())[:200]!r}")
        async for line in reply.aiter_lines():
            if first is None and line.startswith("data: {") and '"content"' in line:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("no text")
    return first * 1000


def row(name: str, values: list[float], base: list[float] | None = None) -> str:
    cells = [pct(values, q) for q in (0.5, 0.95, 0.99)]
    added = "" if base is None else f" | {pct(values, 0.99) - pct(base, 0.99):+.1f}"
    return f"| {name} | {len(values)} | " + " | ".join(f"{c:.1f}" for c in cells) + (added or " | –") + " |"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    load_before = os.getloadavg()
    up_port, dead_port = free_port(), free_port()  # nothing listens on dead_port
    upstream = subprocess.Popen([sys.executable, str(ROOT / "tools" / "fake_openai_upstream.py"), "--port", str(up_port),
                                 "--tokens", "20", "--gap-ms", "10"])
    wait_http(f"http://127.0.0.1:{up_port}/stats")
    fleet = Fleet(Path(tempfile.mkdtemp()) / "var", Ports.free(), {
        "LLM_OPENAI_COMPATIBLE": orjson.dumps([
            {"name": "primary", "base_url": f"http://127.0.0.1:{dead_port}/v1", "models": ["fake-model"]},
            {"name": "secondary", "base_url": f"http://127.0.0.1:{up_port}/v1", "models": ["fake-model"]}]).decode(),
        "LLM_MODEL_ALIASES": orjson.dumps({"chain": ["primary:fake-model", "secondary:fake-model"]}).decode(),
        "LLM_BREAKER_FAILURE_THRESHOLD": str(THRESHOLD), "LLM_BREAKER_COOLDOWN_SECONDS": str(COOLDOWN),
        "LLM_MAX_ATTEMPTS": "1",  # a refused connection goes straight to the next provider
        "GATEWAY_LOG_LEVEL": "warning", "LLM_LOG_LEVEL": "error", "CONVERSATION_LOG_LEVEL": "warning", "LLM_LOCAL_N_CTX": "2048",
        "GATEWAY_RATE_LIMIT_REQUESTS": "10000000", "GATEWAY_USER_TOKENS_PER_MINUTE": "1000000000000",
        "GATEWAY_TENANT_TOKENS_PER_MINUTE": "1000000000000",
    }, log_dir=Path(tempfile.mkdtemp()))
    results: dict[str, list[float]] = {"direct": [], "open": [], "closed": []}
    try:
        fleet.start()
        token = fleet_token(fleet.url)
        url = f"{fleet.url}/v1/chat/completions"
        async with httpx.AsyncClient(timeout=60) as client:
            for _ in range(5):
                await ttft(client, url, token, "secondary:fake-model")
            # THRESHOLD refused connections open the primary's circuit
            for _ in range(THRESHOLD + 2):
                await ttft(client, url, token, "chain")
            for _ in tqdm(range(args.requests), desc="circuit open", unit="pair"):
                results["direct"].append(await ttft(client, url, token, "secondary:fake-model"))
                results["open"].append(await ttft(client, url, token, "chain"))
        fleet.processes["llm-orchestrator"].terminate()  # a fresh orchestrator: every circuit closed
        fleet.processes["llm-orchestrator"].wait(30)
        fleet.env["LLM_BREAKER_FAILURE_THRESHOLD"] = "1000000"  # and it stays closed
        fleet.restart("llm-orchestrator")
        async with httpx.AsyncClient(timeout=60) as client:
            deadline = time.monotonic() + 30
            while True:  # until the gateway has reconnected to the new orchestrator
                try:
                    await ttft(client, url, token, "secondary:fake-model")
                    break
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            for _ in tqdm(range(args.requests // 2), desc="circuit closed", unit="request"):
                results["closed"].append(await ttft(client, url, token, "chain"))
    finally:
        fleet.stop()
        upstream.terminate()
        upstream.wait(10)

    lines = [
        "# Fallback latency", "",
        f"Through the gateway's `/v1`, one request at a time; the primary of `chain` refuses connections, the secondary is the "
        f"fake upstream (20 tokens, 10 ms apart). {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        "load average {:.2f} {:.2f} {:.2f} before the run.".format(*load_before),
        f"Command: `python bench/resilience.py {' '.join(sys.argv[1:])}`", "",
        "| model | requests | TTFT p50 ms | TTFT p95 ms | TTFT p99 ms | added at p99, ms |", "|---|---|---|---|---|---|",
        row("`secondary:fake-model` (no fallback)", results["direct"]),
        row("`chain`, primary's circuit open", results["open"], results["direct"]),
        row("`chain`, primary's circuit closed (each request tries it first)", results["closed"], results["direct"]),
        "",
        f"Target: the fallback with the circuit open adds at most 10 ms at p99: "
        f"{'met' if pct(results['open'], 0.99) - pct(results['direct'], 0.99) <= 10 else 'NOT met'}.",
    ]
    out = ROOT / "bench" / "results" / "resilience.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
