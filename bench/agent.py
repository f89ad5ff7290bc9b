"""Agent loop overhead benchmark (llm-orchestrator's agents/loop.py): the wall time the loop adds
to each step over the bare model calls it makes.

A fixed script on the fake OpenAI-compatible upstream (tools/fake_openai_upstream.py, real HTTP
on loopback): every run asks for the calculator STEPS-1 times, one call per step, then answers.
Each run goes through the real router and provider with the real calculator; then the very same
model calls (the transcript each step sent, the same script) are made directly through the
router, timed the same way. Added latency per step = (loop wall time - the direct calls' time) /
steps: validation, tool execution, observations, pricing, spans off (as in production without
an exporter), bookkeeping.

    flock /tmp/heavy.lock .venv/bin/python bench/agent.py   # writes bench/results/agent.md
"""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "services/llm-orchestrator/src"), str(ROOT / "libs/common/src"), str(ROOT / "tools")]

from fake_openai_upstream import start_upstream  # noqa: E402
from llm_orchestrator.agents.limits import RunLimits  # noqa: E402
from llm_orchestrator.agents.loop import AgentLoop, RunEnded  # noqa: E402
from llm_orchestrator.agents.state import RunState  # noqa: E402
from llm_orchestrator.pricing import DEFAULT_PRICES, PriceTable  # noqa: E402
from llm_orchestrator.providers.base import ChatMessage, End, GenParams  # noqa: E402
from llm_orchestrator.providers.openai import OpenAIProvider  # noqa: E402
from llm_orchestrator.resilience import CircuitBreaker  # noqa: E402
from llm_orchestrator.router import Router, RouterPolicy  # noqa: E402
from llm_orchestrator.tools.base import ToolContext  # noqa: E402
from llm_orchestrator.tools.calculator import Calculator  # noqa: E402
from llm_orchestrator.tools.running import execute, validate_arguments  # noqa: E402

STEPS = 4
RUNS = 60
WARMUP = 5
GAP_MS = 2.0
OUT = ROOT / "bench" / "results" / "agent.md"


def script(upstream) -> None:
    turns = [[{"name": "calculator", "arguments": json.dumps({"expression": f"{i} * 7 + 1"})}] for i in range(STEPS - 1)]
    upstream.control(reset=True)
    upstream.control(tool_turns=turns, script="The answer is 22.", gap_ms=GAP_MS)


async def timed_direct(router: Router, messages: list[ChatMessage], params: GenParams) -> float:
    started = time.perf_counter()
    async for item in router.generate("fake:fake-model", "", messages, params):
        if isinstance(item, End):
            break
    return time.perf_counter() - started


async def main() -> None:
    upstream = start_upstream(tokens=3, gap_ms=GAP_MS)
    try:
        provider = OpenAIProvider("fake", "key", upstream.base_url, ["fake-model"], 8192, 10.0)
        router = Router({"fake": provider}, {}, "fake:fake-model", RouterPolicy(max_attempts=1), lambda: CircuitBreaker(5, 30.0))
        prices = PriceTable(DEFAULT_PRICES)
        calculator = Calculator()
        params = GenParams(max_tokens=64)
        loop = AgentLoop(lambda m, p: router.generate("fake:fake-model", "", m, p), prices.cost, {"calculator": calculator},
                         lambda tool, text: validate_arguments(tool.spec, text), execute, RunLimits(max_steps=STEPS + 1),
                         ToolContext("bench", "bench"))
        offered = GenParams(max_tokens=64, tools=(calculator.spec,))
        added: list[float] = []
        loop_steps: list[float] = []
        direct_steps: list[float] = []
        for i in range(WARMUP + RUNS):
            script(upstream)
            state = RunState([ChatMessage("system", "You are helpful."), ChatMessage("user", "Compute it step by step.")])
            started = time.perf_counter()
            async for event in loop.run(state, params):
                if isinstance(event, RunEnded):
                    assert event.finish_reason == "stop", event.finish_reason
            wall = time.perf_counter() - started
            assert state.model_steps == STEPS
            # The same calls, made directly: each step's prompt as the loop sent it.
            prompts = [state.messages[:k] for k, m in enumerate(state.messages) if m.role == "assistant"]
            script(upstream)
            direct = 0.0
            for prompt in prompts:
                direct += await timed_direct(router, prompt, offered)
            if i >= WARMUP:
                added.append((wall - direct) / STEPS * 1000)
                loop_steps.append(wall / STEPS * 1000)
                direct_steps.append(direct / STEPS * 1000)
        await provider.aclose()
    finally:
        upstream.process.terminate()
        upstream.process.wait(10)

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]

    rows = [("loop, per step", loop_steps), ("direct model call, per step", direct_steps), ("added by the loop, per step", added)]
    lines = [
        "# Agent loop overhead", "",
        f"{RUNS} runs of {STEPS} steps each ({STEPS - 1} calculator calls, then the answer), after {WARMUP} warm-up runs; fake "
        f"OpenAI-compatible upstream on loopback ({GAP_MS:g} ms between chunks), the real router, provider and calculator. "
        f"Machine: {platform.machine()}, Python {platform.python_version()}, shared with other work.", "",
        "| per step | p50 ms | p95 ms | mean ms |", "|---|---|---|---|",
        *(f"| {name} | {pct(v, 50):.2f} | {pct(v, 95):.2f} | {statistics.fmean(v):.2f} |" for name, v in rows), "",
        f"Target: at most 5 ms added per step at p50: **{'met' if pct(added, 50) <= 5 else 'missed'}** ({pct(added, 50):.2f} ms).", "",
    ]
    text = "\n".join(lines)
    print(text)
    OUT.write_text(text)


if __name__ == "__main__":
    asyncio.run(main())
