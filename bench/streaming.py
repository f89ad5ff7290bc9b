"""Streaming overhead, side by side in one run, on this machine:

  (a) an OpenAI-compatible fake upstream called directly,
  (b) the same upstream through a LiteLLM proxy (installed into bench/.venv-litellm),
  (c) the same upstream through this fleet's `/v1` (gateway -> llm-orchestrator -> upstream),
  (d) the same upstream through the chat path `/api/v1/chat/stream` (gateway -> conversation
      -> llm-orchestrator -> upstream, every turn persisted: a new conversation, the user's
      message, the answer with its usage),

at 1, 50 and 200 concurrent streams: TTFT p50/p95, inter-token gap p50/p95, requests/s, errors,
and the CPU each fleet process spent per turn (utime + stime from /proc, before and after the
cell, divided by the turns served). Then the embedded model through the fleet against
llama-cpp-python called directly (tokens/s).

    python bench/streaming.py [--duration 10] [--levels 1,50,200] [--skip-litellm] [--skip-embedded]
                              [--long-tokens 200] [--long-level 50]
Writes bench/results/streaming.md. With --long-tokens, `/v1` and the chat path are also run
with answers of that many tokens at --long-level streams, beside the short ones: the factor
the capacity plan (docs/capacity.md) applies for long answers.
"""

from __future__ import annotations

import argparse
from collections import Counter
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from fleet import Fleet, Ports, free_port  # noqa: E402

TOKENS, GAP_MS = 20, 10
N_CTX = 2048  # the same context size for llama-cpp-python called directly and for the fleet's local provider
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
LITELLM_KEY = "sk-bench-" + os.urandom(16).hex()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(url)


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict
    model: str
    wire: str = "openai"  # openai: chat.completion.chunk lines; chat: the chat path's named SSE events
    max_tokens: int = TOKENS


def _has_text(wire: str, event: str, line: str) -> bool:
    """Whether an SSE data line carries generated text."""
    if wire == "chat":
        if event == "error":
            raise RuntimeError(f"error event {line[6:80]}")
        return event == "token"
    if line == "data: [DONE]":
        return False
    chunk = orjson.loads(line[6:])
    return bool(chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content"))


async def one_stream(client: httpx.AsyncClient, target: Target, ttfts: list, gaps: list) -> None:
    if target.wire == "chat":
        body = {"model": target.model, "max_tokens": target.max_tokens, "message": "Count for me."}
    else:
        body = {"model": target.model, "stream": True, "max_tokens": target.max_tokens,
                "messages": [{"role": "user", "content": "Count for me."}]}
    started = time.perf_counter()
    last = None
    event = ""
    async with client.stream("POST", target.url, json=body, headers=target.headers) as reply:
        if reply.status_code != 200:
            raise RuntimeError(f"status {reply.status_code} {(await reply.aread())[:60]!r}")
        async for line in reply.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
                continue
            if not line.startswith("data: ") or not _has_text(target.wire, event, line):
                continue
            now = time.perf_counter()
            if last is None:
                ttfts.append(now - started)
            else:
                gaps.append(now - last)
            last = now
    if last is None:
        raise RuntimeError("no tokens")


CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far, in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_MS  # utime, stime: fields 14 and 15 of stat(5)


async def load(target: Target, concurrency: int, duration: float, pids: dict[str, int], load_pids: dict[str, int]) -> dict:
    """One cell. `pids`: the fleet's processes; `load_pids`: the load generator's own (this
    process and the fake upstream), which share the machine's cores with the fleet."""
    ttfts: list[float] = []
    gaps: list[float] = []
    done = errors = 0
    reasons: Counter = Counter()
    limits = httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=concurrency + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await one_stream(client, target, [], [])  # warm-up
        cpu_before = {name: cpu_ms(pid) for name, pid in {**pids, **load_pids}.items()}
        stop_at = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop_at:
                try:
                    await one_stream(client, target, ttfts, gaps)
                    done += 1
                except Exception as exc:  # noqa: BLE001 - counted and named in the report
                    errors += 1
                    reasons[str(exc)[:60] or type(exc).__name__] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        turns = max(1, done + errors)
        cpu = {name: (cpu_ms(pid) - cpu_before[name]) / turns for name, pid in pids.items()}
        load_cpu = sum(cpu_ms(pid) - cpu_before[name] for name, pid in load_pids.items()) / turns
    return {
        "cpu": cpu, "load_cpu": load_cpu,
        "ttft_p50": pct(ttfts, 0.5) * 1000, "ttft_p95": pct(ttfts, 0.95) * 1000,
        "gap_p50": pct(gaps, 0.5) * 1000, "gap_p95": pct(gaps, 0.95) * 1000,
        "rps": done / elapsed, "done": done, "errors": errors, "reasons": dict(reasons),
    }


def start_litellm(upstream: str) -> tuple[subprocess.Popen, str]:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        # 1.106.2: the newest release whose pins resolve on this machine's package index.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "litellm[proxy]==1.106.2"], check=True)
    port = free_port()
    config = Path(tempfile.mkdtemp()) / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: fake-model\n    litellm_params:\n"
        f"      model: openai/fake-model\n      api_base: {upstream}\n      api_key: none\n"
    )
    proc = subprocess.Popen(
        [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": LITELLM_KEY},
    )
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", 180)
    return proc, f"http://127.0.0.1:{port}/v1/chat/completions"


def fleet_token(base: str) -> str:
    creds = {"email": "bench@example.com", "password": "benchmark password"}
    httpx.post(f"{base}/api/v1/auth/register", json=creds, timeout=30)
    return httpx.post(f"{base}/api/v1/auth/login", json=creds, timeout=30).json()["access_token"]


async def local_model_tokens_per_second(fleet_url: str, token: str, runs: int = 7) -> tuple[float, float]:
    """tokens/s of the embedded model: llama-cpp-python directly vs through the fleet (/v1)."""
    from llama_cpp import Llama

    from chatbot_common.tokens import bundled_model_path

    messages = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
    llama = Llama(model_path=str(bundled_model_path()), n_ctx=N_CTX, n_threads=os.cpu_count(), verbose=False)

    def run_direct() -> float:
        first, n = None, 0
        for chunk in llama.create_chat_completion(messages=messages, max_tokens=128, temperature=0.0, stream=True):
            if chunk["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter()
                n += 1
        return (n - 1) / (time.perf_counter() - first)

    async def run_fleet(client: httpx.AsyncClient) -> float:
        body = {"model": "local:smollm2-135m-instruct", "stream": True, "max_tokens": 128, "temperature": 0.0,
                "messages": messages, "stream_options": {"include_usage": True}}
        first, usage = None, 0
        async with client.stream("POST", f"{fleet_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}) as reply:
            async for line in reply.aiter_lines():
                if line.startswith("data: {"):
                    chunk = orjson.loads(line[6:])
                    if chunk.get("usage"):
                        usage = chunk["usage"]["completion_tokens"]
                    elif chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                        first = first or time.perf_counter()
        return (usage - 1) / (time.perf_counter() - first)

    # Interleaved, so that background noise on this shared machine hits both sides alike.
    direct, fleet = [], []
    async with httpx.AsyncClient(timeout=120) as client:
        for _ in range(runs):
            direct.append(await asyncio.to_thread(run_direct))
            fleet.append(await run_fleet(client))
    llama.close()
    return statistics.median(direct), statistics.median(fleet)


FLEET_PATHS = ("v1", "chat")
SERVICES = ("gateway", "conversation", "llm-orchestrator", "rag", "ingest-worker")


def cpu_total(cpu: dict[str, float]) -> float:
    return sum(cpu.values())


def cpu_text(cpu: dict[str, float]) -> str:
    if not cpu:
        return "–"
    return " ".join(f"{name.split('-')[0]} {cpu[name]:.1f}" for name in SERVICES if name in cpu) + f" = {cpu_total(cpu):.1f}"


def side_by_side(results: dict[tuple[str, int], dict], levels: list[int]) -> list[str]:
    """The figures the chat path is held to, against the upstream called directly."""
    lines = ["| | direct | /v1 | chat path | target |", "|---|---|---|---|---|"]
    if 1 in levels:
        d, v, c = (results[(n, 1)] for n in ("direct", "v1", "chat"))
        lines.append(f"| TTFT p50 at 1 stream, ms | {d['ttft_p50']:.1f} | {v['ttft_p50']:.1f} (+{v['ttft_p50'] - d['ttft_p50']:.1f}) "
                     f"| {c['ttft_p50']:.1f} (+{c['ttft_p50'] - d['ttft_p50']:.1f}) | /v1 ≤ +3, chat ≤ +8 |")
    if 50 in levels:
        d, v, c = (results[(n, 50)] for n in ("direct", "v1", "chat"))
        lines.append(f"| requests/s at 50 streams | {d['rps']:.1f} | {v['rps']:.1f} ({100 * v['rps'] / d['rps']:.0f}%) "
                     f"| {c['rps']:.1f} ({100 * c['rps'] / d['rps']:.0f}%) | chat ≥ 70% of direct |")
        lines.append(f"| load generator's CPU ms per request at 50 streams (bench client + fake upstream) | {d['load_cpu']:.1f} "
                     f"| {v['load_cpu']:.1f} | {c['load_cpu']:.1f} | – |")
        # The load generator runs on the same cores: at 70 % of the direct rate, what it spends
        # leaves the fleet this much CPU per turn, however the fleet is built.
        rate = 0.7 * d["rps"]
        budget = (os.cpu_count() * 1000 - rate * c["load_cpu"]) / rate
        lines.append(f"| fleet CPU ms per turn that {rate:.0f} req/s (70 % of direct) leaves on {os.cpu_count()} cores | – "
                     f"| {cpu_total(v['cpu']):.1f} used | {budget:.1f} left, {cpu_total(c['cpu']):.1f} used | – |")
    for level in levels:
        v, c = results[("v1", level)], results[("chat", level)]
        lines.append(f"| CPU ms per turn at {level} stream{'s' if level > 1 else ''} | – | {cpu_text(v['cpu'])} | {cpu_text(c['cpu'])} "
                     f"| chat ≤ 15 |")
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--levels", default="1,50,200")
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true", help="skip the embedded-model tokens/s comparison")
    parser.add_argument("--long-tokens", type=int, default=0, help="also run /v1 and the chat path with answers this long")
    parser.add_argument("--long-level", type=int, default=50, help="concurrent streams for the long-answer cells")
    parser.add_argument("--out", default="streaming.md", help="file name under bench/results/")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    load_before = os.getloadavg()

    up_port = free_port()
    upstream_proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "fake_openai_upstream.py"), "--port", str(up_port),
                                      "--tokens", str(max(TOKENS, args.long_tokens)), "--gap-ms", str(GAP_MS)])
    upstream = f"http://127.0.0.1:{up_port}/v1"
    wait_http(f"http://127.0.0.1:{up_port}/stats")
    targets: dict[str, Target] = {"direct": Target(f"{upstream}/chat/completions", {}, "fake-model")}
    procs = [upstream_proc]
    fleet = Fleet(Path(tempfile.mkdtemp()) / "var", Ports.free(), {
        "LLM_OPENAI_COMPATIBLE": orjson.dumps([{"name": "fake", "base_url": upstream, "models": ["fake-model"], "context_window": 8192}]).decode(),
        "GATEWAY_LOG_LEVEL": "warning", "LLM_LOG_LEVEL": "warning", "CONVERSATION_LOG_LEVEL": "warning",
        "LLM_LOCAL_N_CTX": str(N_CTX),
        # The limits stay on (their cost is part of the figure), set above what the load needs.
        "GATEWAY_RATE_LIMIT_REQUESTS": "10000000", "GATEWAY_MAX_CONCURRENT_STREAMS": "10000",
        "GATEWAY_USER_TOKENS_PER_MINUTE": "1000000000000", "GATEWAY_TENANT_TOKENS_PER_MINUTE": "1000000000000",
    }, log_dir=Path(tempfile.mkdtemp()))
    try:
        if not args.skip_litellm:
            proc, url = start_litellm(upstream)
            procs.append(proc)
            targets["litellm"] = Target(url, {"Authorization": f"Bearer {LITELLM_KEY}"}, "fake-model")
        fleet.start()
        token = fleet_token(fleet.url)
        auth = {"Authorization": f"Bearer {token}"}
        targets["v1"] = Target(f"{fleet.url}/v1/chat/completions", auth, "fake:fake-model")
        targets["chat"] = Target(f"{fleet.url}/api/v1/chat/stream", auth, "fake:fake-model", wire="chat")
        pids = {name: proc.pid for name, proc in fleet.processes.items()}
        results: dict[tuple[str, int], dict] = {}
        for level in levels:
            for name, target in targets.items():
                load_pids = {"bench": os.getpid(), "upstream": upstream_proc.pid}
                results[(name, level)] = r = await load(target, level, args.duration, pids if name in FLEET_PATHS else {}, load_pids)
                print(f"{name:8s} c={level:<4d} ttft p50 {r['ttft_p50']:7.1f} ms p95 {r['ttft_p95']:7.1f} | gap p50 {r['gap_p50']:5.1f} "
                      f"p95 {r['gap_p95']:6.1f} | {r['rps']:6.1f} req/s | errors {r['errors']} {r['reasons'] or ''}"
                      + (f" | CPU ms/turn {cpu_text(r['cpu'])}" if r["cpu"] else "") + f" | load generator {r['load_cpu']:.1f}", flush=True)
        long_results: dict[str, tuple[dict, dict]] = {}
        if args.long_tokens:
            # Short and long side by side, each path back to back, so the machine's load hits both alike.
            for name in FLEET_PATHS:
                load_pids = {"bench": os.getpid(), "upstream": upstream_proc.pid}
                short = await load(targets[name], args.long_level, args.duration, pids, load_pids)
                long = await load(Target(targets[name].url, targets[name].headers, targets[name].model, targets[name].wire,
                                         args.long_tokens), args.long_level, args.duration, pids, load_pids)
                long_results[name] = (short, long)
                print(f"{name:8s} c={args.long_level:<4d} CPU ms/turn {TOKENS} tokens {cpu_total(short['cpu']):.1f}, "
                      f"{args.long_tokens} tokens {cpu_total(long['cpu']):.1f} (x{cpu_total(long['cpu']) / cpu_total(short['cpu']):.2f}) "
                      f"| errors {short['errors']}/{long['errors']}", flush=True)
        direct_tps, fleet_tps = (float("nan"), float("nan")) if args.skip_embedded else await local_model_tokens_per_second(fleet.url, token)
        print(f"embedded model: llama-cpp-python direct {direct_tps:.1f} tok/s, through the fleet {fleet_tps:.1f} tok/s", flush=True)
    finally:
        fleet.stop()
        for proc in procs:
            proc.terminate()
            proc.wait(15)

    summary = side_by_side(results, levels)
    if long_results:
        summary += ["", f"Long answers, {args.long_level} streams, each path's short and long cells back to back:", "",
                    f"| path | CPU ms/turn, {TOKENS} tokens | CPU ms/turn, {args.long_tokens} tokens | factor | "
                    f"per extra token | req/s short / long |", "|---|---|---|---|---|---|"]
        for name, (short, long) in long_results.items():
            a, b = cpu_total(short["cpu"]), cpu_total(long["cpu"])
            summary.append(f"| {name} | {cpu_text(short['cpu'])} | {cpu_text(long['cpu'])} | x{b / a:.2f} "
                           f"| {(b - a) / (args.long_tokens - TOKENS):.3f} | {short['rps']:.1f} / {long['rps']:.1f} |")
    print("\n".join(summary))
    # The run itself keeps both cores busy: only the figure before it tells how quiet the machine was.
    load_avg = "load average {:.2f} {:.2f} {:.2f} before the run".format(*load_before)
    lines = [
        "# Streaming benchmark", "",
        f"Fake upstream: {TOKENS} tokens, {GAP_MS} ms apart; {args.duration:.0f} s per cell; {os.cpu_count()} cores; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {load_avg}.",
        f"Command: `python bench/streaming.py {' '.join(sys.argv[1:])}`" + (" (no LiteLLM proxy in this run)." if args.skip_litellm else "."), "",
        "`v1`: gateway `/v1` -> llm-orchestrator -> upstream. `chat`: gateway `/api/v1/chat/stream` -> conversation -> "
        "llm-orchestrator -> upstream, each turn a new conversation, persisted (SQLite). CPU: utime + stime of each "
        "process over the cell, divided by the turns served (idle work included).", "",
        *summary, "",
        "| path | streams | TTFT p50 ms | TTFT p95 ms | gap p50 ms | gap p95 ms | req/s | errors | CPU ms/turn |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, level), r in results.items():
        lines.append(f"| {name} | {level} | {r['ttft_p50']:.1f} | {r['ttft_p95']:.1f} | {r['gap_p50']:.1f} | {r['gap_p95']:.1f} | {r['rps']:.1f} "
                     f"| {r['errors']} | {cpu_text(r['cpu'])} |")
    lines += ["", "| embedded model | tokens/s |", "|---|---|",
              f"| llama-cpp-python direct | {direct_tps:.1f} |", f"| through the fleet | {fleet_tps:.1f} ({100 * fleet_tps / direct_tps:.1f}%, target ≥ 95%) |"]
    if 1 in levels and "litellm" in targets:
        lines += ["", f"LiteLLM adds {results[('litellm', 1)]['ttft_p50'] - results[('direct', 1)]['ttft_p50']:.1f} ms TTFT p50 at 1 stream."]
    if 50 in levels and "litellm" in targets:
        f, lt = results[("v1", 50)], results[("litellm", 50)]
        lines += [f"At 50 streams: fleet TTFT p50 {f['ttft_p50']:.0f} ms vs LiteLLM {lt['ttft_p50']:.0f} ms "
                  f"({f['ttft_p50'] / lt['ttft_p50']:.2f}×, target ≤ 0.33×); req/s {f['rps']:.1f} vs {lt['rps']:.1f} "
                  f"({f['rps'] / lt['rps']:.1f}×, target ≥ 3×)."]
    out = ROOT / "bench" / "results" / args.out
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
