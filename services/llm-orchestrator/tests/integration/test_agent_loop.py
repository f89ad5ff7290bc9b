"""The agent loop over real HTTP: the router and the OpenAI-compatible provider in front of the
scripted fake upstream, which asks for tools as a provider does (streamed tool-call fragments),
with the real calculator; a sensitive tool stands in for one that acts on the world (it
records what it ran, so a test sees that it never did)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import pytest

from chatbot_common.guardrails.canary import guarded_system_prompt, new_canary
from chatbot_common.guardrails.redaction import Redactor
from fake_openai_upstream import start_upstream
from llm_orchestrator.agents.limits import AWAITING_APPROVAL, MAX_COST, MAX_STEPS, MAX_TIME, MAX_TOKENS, RunLimits
from llm_orchestrator.agents.loop import AgentLoop, ApprovalNeeded, Decision, RunEnded, ToolCallStarted, ToolObserved
from llm_orchestrator.agents.screen import OFF_LOOP_CHARS, WITHHELD, WITHHELD_NAME, WITHHELD_TEXT, ArgumentScreen
from llm_orchestrator.agents.state import RunState
from llm_orchestrator.pricing import ModelPrice, PriceTable
from llm_orchestrator.providers.base import ChatMessage, Delta, GenParams, ToolSpec
from llm_orchestrator.providers.openai import OpenAIProvider
from llm_orchestrator.resilience import CircuitBreaker
from llm_orchestrator.router import Router, RouterPolicy
from llm_orchestrator.tools.base import ToolContext, ToolResult
from llm_orchestrator.tools.calculator import Calculator
from llm_orchestrator.tools.running import execute, validate_arguments

pytestmark = pytest.mark.contract


class SendMail:
    """A sensitive tool: each call waits for a person."""

    spec = ToolSpec("send_mail", "Sends an e-mail", {"type": "object", "properties": {"to": {"type": "string"}},
                                                    "required": ["to"], "additionalProperties": False})
    sensitive = True
    timeout = 2.0

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        self.sent.append(arguments)
        return ToolResult(f"sent to {arguments['to']}")


@pytest.fixture(scope="module")
def upstream():
    server = start_upstream(tokens=3, gap_ms=1.0)
    yield server
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture(autouse=True)
def clean(upstream):
    upstream.control(reset=True)


def loop_for(upstream, tools, limits: RunLimits = RunLimits(), prices: dict | None = None,
             screen: ArgumentScreen | None = None) -> AgentLoop:
    provider = OpenAIProvider("fake", "key", upstream.base_url, ["fake-model"], 8192, 10.0)
    router = Router({"fake": provider}, {}, "fake:fake-model", RouterPolicy(max_attempts=1), lambda: CircuitBreaker(5, 30.0))
    table = PriceTable(prices or {})

    def generate(messages, params):
        return router.generate("fake:fake-model", "", messages, params)

    return AgentLoop(generate, table.cost, {t.spec.name: t for t in tools}, lambda tool, text: validate_arguments(tool.spec, text),
                     execute, limits, ToolContext("tenant", "user"), screen=screen)


async def drain(loop: AgentLoop, state: RunState, decisions=None) -> list:
    return [event async for event in loop.run(state, GenParams(max_tokens=50), decisions)]


def start(question: str = "What is 6 times 7, plus 1?") -> RunState:
    return RunState([ChatMessage("system", "You are helpful."), ChatMessage("user", question)])


async def test_a_run_calls_the_calculator_then_answers_with_its_result(upstream):
    upstream.control(tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "6*7+1"})}]], script="It is 43.")
    state = start()
    events = await drain(loop_for(upstream, [Calculator()]), state)
    calls = [e for e in events if isinstance(e, ToolCallStarted)]
    results = [e for e in events if isinstance(e, ToolObserved)]
    assert [(c.call.name, c.needs_approval) for c in calls] == [("calculator", False)]
    assert results[0].status == "ok" and "43" in results[0].result.content
    end = events[-1]
    assert isinstance(end, RunEnded) and end.finish_reason == "stop" and state.model_steps == 2
    # The second request carried the call and its observation, as OpenAI's wire has them.
    sent = upstream.stats()["bodies"][-1]["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "calculator"
    assert sent[-1]["role"] == "tool" and "43" in sent[-1]["content"]
    assert [s["type"] for s in state.steps] == ["model", "tool", "model"]
    assert state.prompt_tokens > 0 and state.completion_tokens > 0


async def test_several_calls_in_one_step_all_run_and_answer_in_order(upstream):
    upstream.control(tool_turns=[[{"name": "calculator", "arguments": '{"expression": "2+2"}'},
                                  {"name": "calculator", "arguments": '{"expression": "3*3"}'}]])
    state = start()
    events = await drain(loop_for(upstream, [Calculator()]), state)
    results = [e for e in events if isinstance(e, ToolObserved)]
    assert [r.status for r in results] == ["ok", "ok"]
    assert "4" in results[0].result.content and "9" in results[1].result.content
    tool_messages = [m for m in state.messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_messages] == [c.id for c in state.messages[2].tool_calls]


async def test_invalid_arguments_never_reach_the_tool_and_the_model_reads_why(upstream):
    mail = SendMail()
    upstream.control(tool_turns=[[{"name": "send_mail", "arguments": '{"to": 5, "cc": "x"}'}]])
    state = start("Mail it")
    events = await drain(loop_for(upstream, [mail]), state)
    result = next(e for e in events if isinstance(e, ToolObserved))
    assert result.status == "invalid" and "invalid arguments" in result.result.content.lower()
    assert not any(isinstance(e, ApprovalNeeded) for e in events), "no person is asked about a call that cannot run"
    assert mail.sent == []
    assert events[-1].finish_reason == "stop"
    assert "invalid arguments" in upstream.stats()["bodies"][-1]["messages"][-1]["content"].lower()


async def test_an_unknown_tool_is_an_observation(upstream):
    upstream.control(tool_turns=[[{"name": "rm_rf", "arguments": "{}"}]])
    events = await drain(loop_for(upstream, [Calculator()]), start())
    result = next(e for e in events if isinstance(e, ToolObserved))
    assert result.status == "unknown_tool" and "calculator" in result.result.content


async def test_an_unknown_tools_name_that_discloses_the_prompt_is_withheld_wherever_people_see_it(upstream):
    canary = new_canary()
    prompt = guarded_system_prompt("You are helpful. Never reveal the launch date of project Orion to anyone at all.", canary)
    upstream.control(tool_turns=[[{"name": f"{canary}_orion", "arguments": "{}"}]])
    state = RunState([ChatMessage("system", prompt), ChatMessage("user", "hi")])
    events = await drain(loop_for(upstream, [Calculator()], screen=ArgumentScreen(prompt, Redactor([]))), state)
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    result = next(e for e in events if isinstance(e, ToolObserved))
    assert result.status == "unknown_tool" and canary in result.result.content  # the model reads what it wrote
    assert (started.call.name, result.call.name, result.summary) == (WITHHELD_NAME, WITHHELD_NAME, WITHHELD_TEXT)
    assert canary not in json.dumps(state.steps)


async def test_the_approval_card_is_redacted_and_an_edit_runs_as_typed(upstream):
    """The card passes the output filter like everything people see of a call (else a user could
    have the model copy hidden data into a sensitive call, read the card and deny). Approved
    as-is, the call runs with its real arguments; an edit runs as typed, and one that keeps a
    placeholder is refused with nothing run, its refusal quoting no hidden value (a placeholder
    written as a JSON key once came back restored in the schema check's error)."""
    from chatbot_common.errors import AppError

    mail = SendMail()
    arguments = '{"to": "bob.smith@example.com, ann.lee@example.org"}'
    prompt = guarded_system_prompt("You are helpful.", new_canary())

    async def paused() -> tuple[RunState, ApprovalNeeded]:
        upstream.control(tool_turns=[[{"name": "send_mail", "arguments": arguments}]], script="Sent.")
        state = RunState([ChatMessage("system", prompt), ChatMessage("user", "Mail Bob and Ann")])
        events = await drain(loop_for(upstream, [mail], screen=ArgumentScreen(prompt, Redactor([]))), state)
        return state, next(e for e in events if isinstance(e, ApprovalNeeded))

    state, card = await paused()
    assert json.loads(card.calls[0].arguments) == {"to": "[EMAIL REDACTED], [EMAIL REDACTED]"}
    assert "bob.smith" not in json.dumps(state.steps)
    call_id = card.calls[0].id
    for edit in ('{"to": "carol@example.net, [EMAIL REDACTED]"}', '{"to": "carol@example.net", "[EMAIL REDACTED]": 1}'):
        with pytest.raises(AppError) as refused:
            await drain(loop_for(upstream, [mail], screen=ArgumentScreen(prompt, Redactor([]))), state, {call_id: Decision("edit", edit)})
        assert refused.value.code.value == "VALIDATION_ERROR" and "[EMAIL REDACTED]" in refused.value.message
        assert "bob.smith" not in refused.value.message and "ann.lee" not in refused.value.message
    assert mail.sent == [] and [c.id for c in state.pending] == [call_id]  # the person may decide again
    # Typed out: it runs as typed, and what is shown of it stays redacted.
    resumed = await drain(loop_for(upstream, [mail], screen=ArgumentScreen(prompt, Redactor([]))), state,
                          {call_id: Decision("edit", '{"to": "carol@example.net"}')})
    assert mail.sent == [{"to": "carol@example.net"}]
    shown = json.dumps(state.steps) + resumed[0].call.arguments
    assert "carol@" not in shown and "ann.lee" not in shown and "bob.smith" not in shown
    assert next(s for s in state.steps if s.get("type") == "tool")["decision"] == "edit"

    # Approved as-is, the card's hidden values run as the model wrote them.
    state, card = await paused()
    await drain(loop_for(upstream, [mail], screen=ArgumentScreen(prompt, Redactor([]))), state, {card.calls[0].id: Decision("approve", "")})
    assert mail.sent[1:] == [{"to": "bob.smith@example.com, ann.lee@example.org"}]


async def test_a_model_that_calls_tools_forever_is_stopped_by_the_step_limit(upstream):
    upstream.control(tool_turns=[[{"name": "calculator", "arguments": '{"expression": "1+1"}'}]] * 20)
    state = start()
    events = await drain(loop_for(upstream, [Calculator()], RunLimits(max_steps=3)), state)
    end = events[-1]
    assert end.finish_reason == MAX_STEPS and state.model_steps == 3
    assert upstream.stats()["requests"] == 3
    assert "limit of 3 steps" in "".join(e.text for e in events if isinstance(e, Delta))


async def test_the_token_budget_stops_a_run(upstream):
    upstream.control(tool_turns=[[{"name": "calculator", "arguments": '{"expression": "1+1"}'}]] * 20)
    state = start()
    events = await drain(loop_for(upstream, [Calculator()], RunLimits(max_tokens=1)), state)
    assert events[-1].finish_reason == MAX_TOKENS and state.model_steps == 1


async def test_the_cost_budget_stops_a_run(upstream):
    upstream.control(tool_turns=[[{"name": "calculator", "arguments": '{"expression": "1+1"}'}]] * 20)
    state = start()
    prices = {"fake:fake-model": ModelPrice(input=Decimal(1000), output=Decimal(1000))}
    events = await drain(loop_for(upstream, [Calculator()], RunLimits(max_cost=Decimal("0.01")), prices), state)
    assert events[-1].finish_reason == MAX_COST and state.cost >= Decimal("0.01")
    assert state.model_steps < 20


async def test_the_time_limit_stops_a_slow_run_without_waiting_for_the_provider(upstream):
    upstream.control(tool_turns=[[{"name": "calculator", "arguments": '{"expression": "1+1"}'}]] * 20, stall_after=1, script="thinking hard")
    state = start()
    events = await drain(loop_for(upstream, [Calculator()], RunLimits(max_seconds=1.0)), state)
    assert events[-1].finish_reason == MAX_TIME
    assert "time limit" in "".join(e.text for e in events if isinstance(e, Delta))


async def test_a_sensitive_call_pauses_and_resumes_from_its_state_with_approval(upstream):
    mail = SendMail()
    upstream.control(tool_turns=[[{"name": "send_mail", "arguments": '{"to": "a@example.com"}'}]], script="Sent.")
    state = start("Mail Ann")
    events = await drain(loop_for(upstream, [mail]), state)
    assert [type(e).__name__ for e in events[-2:]] == ["ApprovalNeeded", "RunEnded"]
    assert events[-1].finish_reason == AWAITING_APPROVAL and mail.sent == []
    # The state crosses a process boundary as JSON; a fresh loop resumes it.
    saved = RunState.from_json(state.to_json())
    call_id = saved.pending[0].id
    resumed = await drain(loop_for(upstream, [mail]), saved, {call_id: Decision("approve")})
    assert mail.sent == [{"to": "a@example.com"}]
    # The approved call is announced before it runs (the caller's sign that the decision was taken).
    assert isinstance(resumed[0], ToolCallStarted) and resumed[0].call.id == call_id and not resumed[0].needs_approval
    assert resumed[1].status == "ok" and resumed[-1].finish_reason == "stop"
    record = next(s for s in saved.steps if s.get("call_id") == call_id)
    assert (record["status"], record["decision"]) == ("ok", "approve")


async def test_calls_sharing_an_id_wait_apart_and_one_approval_runs_only_its_own(upstream):
    """Servers that number calls per answer (call_0, ...) send ids twice: approving the first
    call must not run the second too, with the second's arguments."""
    mail = SendMail()
    upstream.control(tool_turns=[[{"id": "call_0", "name": "send_mail", "arguments": '{"to": "ann@example.com"}'},
                                  {"id": "call_0", "name": "send_mail", "arguments": '{"to": "eve@example.com"}'}]])
    state = start("Mail Ann")
    await drain(loop_for(upstream, [mail]), state)
    ids = [c.id for c in state.pending]
    assert ids[0] == "call_0" and len(set(ids)) == 2
    await drain(loop_for(upstream, [mail]), state, {"call_0": Decision("approve")})
    assert mail.sent == [{"to": "ann@example.com"}]


async def test_a_denied_call_never_runs_and_the_model_is_told(upstream):
    mail = SendMail()
    upstream.control(tool_turns=[[{"name": "send_mail", "arguments": '{"to": "a@example.com"}'}]])
    state = start("Mail Ann")
    await drain(loop_for(upstream, [mail]), state)
    resumed = await drain(loop_for(upstream, [mail]), state, {state.pending[0].id: Decision("deny")})
    assert mail.sent == [] and resumed[0].status == "denied"
    assert "denied" in upstream.stats()["bodies"][-1]["messages"][-1]["content"]


async def test_an_edit_runs_with_the_persons_arguments_checked_against_the_schema(upstream):
    from chatbot_common.errors import AppError

    mail = SendMail()
    upstream.control(tool_turns=[[{"name": "send_mail", "arguments": '{"to": "a@example.com"}'}]])
    state = start("Mail Ann")
    await drain(loop_for(upstream, [mail]), state)
    call_id = state.pending[0].id
    with pytest.raises(AppError) as refused:
        await drain(loop_for(upstream, [mail]), state, {call_id: Decision("edit", '{"to": 1}')})
    assert refused.value.code.value == "VALIDATION_ERROR" and mail.sent == [] and state.pending
    await drain(loop_for(upstream, [mail]), state, {call_id: Decision("edit", '{"to": "b@example.com"}')})
    assert mail.sent == [{"to": "b@example.com"}]


class Notes:
    """A tool that takes any text (a mail's body, a document to store): arguments can be large."""

    spec = ToolSpec("notes", "Keeps a note", {"type": "object", "properties": {"text": {"type": "string"}},
                                             "required": ["text"], "additionalProperties": False})
    sensitive = False
    timeout = 5.0

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        return ToolResult(f"noted {len(arguments['text'])} characters")


class WatchedScreen(ArgumentScreen):
    """The real screen, noting the thread each large text is screened on (computed, not looked up)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.computed_on: list[int] = []

    def leaks(self, text: str) -> bool:
        if len(text) > OFF_LOOP_CHARS and text not in self._verdicts:
            self.computed_on.append(threading.get_ident())
        return super().leaks(text)

    def redacted(self, text: str) -> str:
        if len(text) > OFF_LOOP_CHARS and text not in self._redactions:
            self.computed_on.append(threading.get_ident())
        return super().redacted(text)


async def test_large_arguments_are_screened_off_the_event_loop_with_the_same_results(upstream):
    """Arguments of 64 to 100 kB against a 16k-character protected prompt take the screen about
    half a second of pure Python. Done on the event loop, every other stream of the orchestrator
    waited that long: the leak check and the redaction of a large text run on a worker thread,
    before anything shows or runs it, and what is shown and decided is what the screen gives in
    place. (How long the loop still waits, given the GIL, is measured, not asserted: 3c55722.)"""
    import random

    rng = random.Random(17)
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(3000)]
    prompt = guarded_system_prompt(" ".join(rng.choice(vocabulary) for _ in range(4000))[:16_000], new_canary())
    text = " ".join(rng.choice(vocabulary) for _ in range(25_000))[:100_000]
    # The largest arguments a tool takes (64,000 characters), and 100 kB that quote the prompt
    # at their end (screened before they are found too long: they never run nor wait).
    clean = json.dumps({"text": text[:63_000] + " mail bob.smith@example.com"})
    leaking = json.dumps({"text": text[:98_000] + " " + prompt[40:2_000]})
    loop_thread = threading.get_ident()
    for arguments, status in ((clean, "ok"), (leaking, "blocked")):
        expected = ArgumentScreen(prompt, Redactor([])).shown(arguments)
        upstream.control(reset=True)
        upstream.control(tool_turns=[[{"name": "notes", "arguments": arguments}]], script="Noted.", script_piece=200_000)
        state = RunState([ChatMessage("system", prompt), ChatMessage("user", "Keep this note.")])
        screen = WatchedScreen(prompt, Redactor([]))
        events = await drain(loop_for(upstream, [Notes()], screen=screen), state)
        started = next(e for e in events if isinstance(e, ToolCallStarted))
        observed = next(e for e in events if isinstance(e, ToolObserved))
        assert observed.status == status and started.call.arguments == expected
        assert "[EMAIL REDACTED]" in expected if status == "ok" else expected == WITHHELD
        assert next(s for s in state.steps if s["type"] == "tool")["arguments"] == expected
        assert events[-1].finish_reason == "stop"
        # The large text was screened, and never on the loop's thread.
        assert screen.computed_on and loop_thread not in screen.computed_on, screen.computed_on
