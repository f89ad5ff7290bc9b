"""Everything a run needs to go on after a pause, as JSON: the transcript the model sees, the
steps so far (what the client is shown and the message stores), the calls waiting for a
person, and what the run has spent. The orchestrator keeps no runs: a paused run's state
travels to the conversation service, which stores it with the answer and sends it back with
the person's decisions, so any orchestrator replica (or a restarted one) resumes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from chatbot_common.errors import AppError, ErrorCode
from llm_orchestrator.providers.base import ChatMessage, ToolCall

VERSION = 1


@dataclass
class RunState:
    messages: list[ChatMessage]
    steps: list[dict[str, Any]] = field(default_factory=list)
    pending: list[ToolCall] = field(default_factory=list)
    model_steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced: bool = False  # a step's model had no price: the run's cost is unknown
    elapsed: float = 0.0  # seconds spent running, pauses left out

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> bytes:
        return orjson.dumps({
            "v": VERSION, "messages": [_message(m) for m in self.messages], "steps": self.steps,
            "pending": [_call(c) for c in self.pending], "model_steps": self.model_steps, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cached_prompt_tokens": self.cached_prompt_tokens,
            "cost": str(self.cost), "unpriced": self.unpriced, "elapsed": self.elapsed,
        })

    @classmethod
    def from_json(cls, data: bytes) -> RunState:
        try:
            raw = orjson.loads(data)
            if raw.get("v") != VERSION:
                raise ValueError("version")
            return cls(
                messages=[ChatMessage(m["role"], m["content"], tuple(ToolCall(**c) for c in m.get("tool_calls", ())),
                                      m.get("tool_call_id", ""), m.get("name", "")) for m in raw["messages"]],
                steps=list(raw["steps"]), pending=[ToolCall(**c) for c in raw["pending"]], model_steps=int(raw["model_steps"]),
                prompt_tokens=int(raw["prompt_tokens"]), completion_tokens=int(raw["completion_tokens"]),
                cached_prompt_tokens=int(raw["cached_prompt_tokens"]), cost=Decimal(raw["cost"]), unpriced=bool(raw["unpriced"]),
                elapsed=float(raw["elapsed"]),
            )
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            raise AppError(ErrorCode.VALIDATION_ERROR, "the paused run's state cannot be read", {"field": "state"}) from exc


def _call(call: ToolCall) -> dict[str, str]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [_call(c) for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"], out["name"] = m.tool_call_id, m.name
    return out
