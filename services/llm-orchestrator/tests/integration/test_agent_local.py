"""The agent loop with the embedded model (SmolLM2-135M, llama.cpp): its calls are held to the
offered tools' schemas by a grammar, so even this small model makes a valid calculator call that
the loop runs, and the run ends within its bounds."""

from __future__ import annotations

import json

import pytest

from chatbot_common.tokens import bundled_model_path
from llm_orchestrator.agents.limits import RunLimits
from llm_orchestrator.agents.loop import AgentLoop, RunEnded, ToolObserved
from llm_orchestrator.agents.state import RunState
from llm_orchestrator.pricing import PriceTable
from llm_orchestrator.providers.base import ChatMessage, GenParams
from llm_orchestrator.providers.local import LocalProvider
from llm_orchestrator.resilience import CircuitBreaker
from llm_orchestrator.router import Router, RouterPolicy
from llm_orchestrator.tools.base import ToolContext
from llm_orchestrator.tools.calculator import Calculator
from llm_orchestrator.tools.running import execute, validate_arguments

pytestmark = pytest.mark.contract


async def test_the_embedded_model_calls_the_calculator_and_the_run_ends():
    local = LocalProvider(bundled_model_path(), "smollm2", n_ctx=2048, threads=2, max_queue=4, default_max_tokens=64, stream_interval=0)
    router = Router({"local": local}, {}, "local:smollm2", RouterPolicy(max_attempts=1), lambda: CircuitBreaker(5, 30.0))
    calculator = Calculator()
    loop = AgentLoop(lambda m, p: router.generate("local:smollm2", "", m, p), PriceTable({}).cost, {"calculator": calculator},
                     lambda tool, text: validate_arguments(tool.spec, text), execute, RunLimits(max_steps=3), ToolContext("t", "u"))
    state = RunState([ChatMessage("system", "You are a helpful assistant. Use the calculator for arithmetic."),
                      ChatMessage("user", "What is 12 times 7?")])
    events = [e async for e in loop.run(state, GenParams(temperature=0.0, max_tokens=48, tool_choice="calculator"))]
    observed = [e for e in events if isinstance(e, ToolObserved)]
    assert observed and observed[0].call.name == "calculator"
    assert observed[0].status == "ok", observed[0].result.content  # the grammar made the arguments valid
    json.loads(observed[0].call.arguments)
    end = events[-1]
    assert isinstance(end, RunEnded) and end.finish_reason in ("stop", "length", "max_steps")
    assert state.model_steps >= 2
    await local.aclose()
