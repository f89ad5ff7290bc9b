"""Every call of a run has its own id: a person's decision, an observation and a step record
are found by it."""

from __future__ import annotations

from llm_orchestrator.agents.loop import unique_ids
from llm_orchestrator.providers.base import ChatMessage, ToolCall


def test_a_repeated_or_missing_id_is_replaced_and_the_others_kept():
    earlier = [ChatMessage("user", "hi"), ChatMessage("assistant", "", (ToolCall("call_0", "calculator", "{}"),))]
    calls = [ToolCall("call_0", "send_mail", '{"to": "ann"}'), ToolCall("call_1", "send_mail", '{"to": "eve"}'),
             ToolCall("call_1", "http_fetch", "{}"), ToolCall("", "calculator", "{}")]
    out = unique_ids(calls, earlier)
    ids = [c.id for c in out]
    assert len(set(ids) | {"call_0"}) == 5  # unique, and none the earlier step's
    assert ids[1] == "call_1" and all(i.startswith("call_") for i in ids)
    assert [(c.name, c.arguments) for c in out] == [(c.name, c.arguments) for c in calls]


def test_unique_ids_pass_unchanged():
    calls = [ToolCall("a", "calculator", "{}"), ToolCall("b", "calculator", "{}")]
    assert unique_ids(calls, []) == calls
