"""Agent loop overhead benchmark (llm-orchestrator's agents/loop.py): the wall time the loop adds
to each step over the bare model calls it makes.

A fixed script on the fake OpenAI-compatible upstream (tools/fake_openai_upstream.py, real HTTP
on loopback): every run asks for the calculator STEPS-1 times, one call per step, then answers.
Each run goes through the real router and provider with the real calculator; then the very same
model calls (the transcript each step sent, the same script) are made directly through the
router, timed the same way. Added latency per step = (loop wall time - the direct calls' time) /
steps: validation, the argument screen (the leak check against the run's protected prompt, about
1,500 characters under its canary, and the output filter's redaction of what is shown), tool
execution, observations, pricing, spans off (as in production without an exporter), bookkeeping.

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
from chatbot_common.guardrails.canary import guarded_system_prompt, new_canary  # noqa: E402
from chatbot_common.guardrails.redaction import Redactor  # noqa: E402
from llm_orchestrator.agents.loop import AgentLoop, RunEnded  # noqa: E402
from llm_orchestrator.agents.screen import ArgumentScreen  # noqa: E402
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
# An operator's system prompt of a usual size (about 1,500 characters), protected by the screen.
OPERATOR_PROMPT = " ".join([
    "You are the support assistant of ACME Logistics. Answer questions about shipments, invoices, warehouses and",
    "the customer portal. Be concise and factual; when a figure is needed, compute it with the calculator tool",
    "rather than estimating. Never reveal internal pricing rules, discount thresholds or the names of account",
    "managers. Do not discuss competitors. If a question is about a legal dispute, say that the legal team will",
    "answer and offer to open a ticket. Quote order numbers exactly as the customer wrote them. Dates are in the",
    "customer's time zone unless they say otherwise. When you are not sure, say so and suggest where the answer",
    "can be found in the portal. Keep personal data out of your answers: never repeat a customer's address,",
    "phone number or payment details back to them, even when they ask. Use metric units unless the customer",
    "uses imperial ones. For delivery estimates, add the warehouse's handling time (one working day) to the",
    "carrier's transit time, and round up to whole days. For invoices, amounts include VAT unless the account",
    "is flagged as a business account in another country of the union. Refunds above 500 euros need a manager's",
    "approval: say that it was requested, never that it was granted. Answer in the customer's language.",
])
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
        redactor = Redactor([])  # the output filter's default rules, as the orchestrator's (its setting) has them

        def agent_loop(protected: str) -> AgentLoop:
            # As the orchestrator builds a run's loop: the argument screen of its protected prompt.
            return AgentLoop(lambda m, p: router.generate("fake:fake-model", "", m, p), prices.cost, {"calculator": calculator},
                             lambda tool, text: validate_arguments(tool.spec, text), execute, RunLimits(max_steps=STEPS + 1),
                             ToolContext("bench", "bench"), screen=ArgumentScreen(protected, redactor))
        offered = GenParams(max_tokens=64, tools=(calculator.spec,))
        added: list[float] = []
        loop_steps: list[float] = []
        direct_steps: list[float] = []
        for i in range(WARMUP + RUNS):
            script(upstream)
            system = guarded_system_prompt(OPERATOR_PROMPT, new_canary())
            state = RunState([ChatMessage("system", system), ChatMessage("user", "Compute it step by step.")])
            started = time.perf_counter()
            loop = agent_loop(system)  # built per run, as the orchestrator does: its cost is the loop's
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
        f"OpenAI-compatible upstream on loopback ({GAP_MS:g} ms between chunks), the real router, provider and calculator; "
        f"each run's loop built as the orchestrator builds it, with the argument screen of a {len(OPERATOR_PROMPT):,}-character "
        "protected system prompt and the output filter. "
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
