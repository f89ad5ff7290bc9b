"""What a chat turn with tools needs from the llm-orchestrator's agent loop, as plain Python
(no gRPC here): the tools a caller may enable, and a run's events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chatbot_common.generation import ModelSelected
from conversation.llm import GenerateOptions, LlmDelta, LlmEnd
from conversation.usage import to_pico

AWAITING_APPROVAL = "awaiting_approval"


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    call_id: str
    name: str
    arguments: str  # JSON text, as the model wrote it
    step: int
    needs_approval: bool


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    call_id: str
    name: str
    status: str  # ok | error | invalid | unknown_tool | denied | blocked
    summary: str
    step: int


@dataclass(frozen=True, slots=True)
class RunPaused:
    """The orchestrator's side of a pause: the calls waiting and the state to resume from."""

    calls: tuple[ToolCallEvent, ...]
    state: bytes


@dataclass(frozen=True, slots=True)
class ApprovalPending:
    """The client's side of a pause: the run (the answer's id), its calls, until when."""

    run_id: str
    calls: tuple[ToolCallEvent, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RunEnd(LlmEnd):
    steps: tuple[dict, ...] = ()


@dataclass(frozen=True, slots=True)
class RunFailed:
    """A failed run's usage, cost and steps so far, sent just before the error that ends it: what
    its finished steps used is booked, and its steps (the tool calls that ran) stored."""

    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    cost: str  # "" unknown
    steps: tuple[dict, ...] = ()


@dataclass(frozen=True, slots=True)
class StepUsage:
    """One model step's usage, as soon as the orchestrator settled it (before the run goes on)."""

    step: int
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    cost: str  # "" unknown

    def record(self) -> dict:
        """The step as the run's stored steps hold a model step (what per-provider booking reads)."""
        return {"type": "model", "step": self.step, "provider": self.provider, "model": self.model,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cached_prompt_tokens": self.cached_prompt_tokens, "cost": self.cost}


@dataclass(frozen=True, slots=True)
class Spent:
    """What an agent run has used so far (this leg's settled model steps), told to the client as
    each step settles: the gateway charges it to budgets when the run ends without its completion."""

    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    cost_pico: int | None  # None: unknown


class RunUsage:
    """The running total of a run's StepUsage events (this leg's, for a resumed run): what is
    booked when the run ends without RunEnd or RunFailed (stopped, the client gone, a deadline,
    the leak guard, an error without its usage), with the text of the step cut short: the run's
    text as it came (`feed`, each delta) since the last step settled. As it came, not as the leak
    guard released it: the guard may still hold the end of a settled step's text when that
    step's usage comes, and releases it with the next step's first piece, so the released text
    would count those characters twice."""

    def __init__(self) -> None:
        self.prompt_tokens = self.completion_tokens = self.cached_prompt_tokens = 0
        self.cost_pico: int | None = 0
        self.steps: list[dict] = []  # the settled model steps and the tool calls, in the order they came
        self._calls: dict[str, dict] = {}  # the tool calls' records, by call id
        self._cut: list[str] = []  # the text of the step under way

    def feed(self, text: str) -> None:
        self._cut.append(text)

    @property
    def cut(self) -> bool:
        """Whether the step under way has written text."""
        return bool(self._cut)

    def add(self, usage: StepUsage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cached_prompt_tokens += usage.cached_prompt_tokens
        cost = to_pico(usage.cost)
        self.cost_pico = None if cost is None or self.cost_pico is None else self.cost_pico + cost
        self.steps.append(usage.record())
        self._cut.clear()

    def saw(self, event: ToolCallEvent | ToolResultEvent) -> None:
        """A tool call the run announced, or its result, kept as the run's stored steps hold it:
        a run cut short stores the calls that ran (a call announced without a result is
        "interrupted": it may have acted)."""
        record = self._calls.get(event.call_id)
        if record is None:
            record = self._calls[event.call_id] = {"type": "tool", "step": event.step, "call_id": event.call_id, "name": event.name}
            self.steps.append(record)
        if isinstance(event, ToolCallEvent):
            record.update(arguments=event.arguments, status=record.get("status", "interrupted"))
        else:
            record.update(status=event.status, summary=event.summary)

    def records(self, known_calls: set[str] = frozenset()) -> list[dict]:
        """The steps to store, without the calls of `known_calls` (a resumed leg's approved
        calls, already in the run's stored steps)."""
        return [dict(r) for r in self.steps if r.get("call_id") not in known_calls]

    def spent(self) -> Spent:
        """The running total, as an event for the client."""
        return Spent(self.prompt_tokens, self.completion_tokens, self.cached_prompt_tokens, self.cost_pico)

    async def cut_tokens(self, count: Callable[[list[str]], Awaitable[list[int]]]) -> int:
        """The tokens of the step cut short, counted by `count` (nothing reported them): 0 when no
        text came after the last settled step."""
        return (await count(["".join(self._cut)]))[0] if self._cut else 0


@dataclass(frozen=True)
class Resume:
    state: bytes
    decisions: tuple[tuple[str, str, str], ...]  # (call_id, action, arguments)


RunItem = ModelSelected | LlmDelta | StepUsage | ToolCallEvent | ToolResultEvent | RunPaused | RunEnd | RunFailed


class AgentClient(Protocol):
    async def check_tools(self, names: tuple[str, ...], user_id: str, tenant_id: str, roles: tuple[str, ...]) -> None:
        """Raises a VALIDATION_ERROR AppError naming the tools the caller may not use."""
        ...

    def run(self, messages: list[tuple[str, str]], options: GenerateOptions, tools: tuple[str, ...], roles: tuple[str, ...],
            run_id: str, resume: Resume | None = None, protected: str = "") -> AsyncIterator[RunItem]:
        """`protected`: what no tool call's arguments may disclose (the turn's guarded system
        prompt, not the memory and summary beside it in the system message)."""
        ...
