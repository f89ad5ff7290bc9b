"""What a chat turn is charged against the caller's token budgets when it ends (the real limits
with the in-process store, events parsed from the conversation service's messages): the
completion's count when it comes; an agent run stopped after tool steps pays its settled steps
(TurnSpent) plus the estimate for the step under way (before, it paid 0: every model step of a
run stopped before its answer's first token was free against the budgets); a turn stopped before
generating anything pays nothing. A resumed leg pays what it added, not the whole run's usage its
completion carries (before, each approval charged the earlier legs again)."""

from __future__ import annotations

import pytest

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from gateway.chat_stream import TokenMeter, _turn_event
from gateway.identity import roles
from gateway.identity.tenants import TenantPolicies
from gateway.limits.backends import MemoryStore
from gateway.limits.limiter import Limits, begin_turn
from gateway.security import Principal
from gateway.settings import GatewaySettings

ALICE = Principal("usr_alice", "ten_acme", "member", roles.role_permissions("member"))
ESTIMATE = 100  # an empty prompt and a completion allowance of 100 tokens


def tool_call(step: int) -> pb.ChatEvent:
    return pb.ChatEvent(tool_call=pb.ToolCallEvent(call_id=f"c{step}", name="calculator", arguments="{}", step=step))


def tool_result(step: int) -> pb.ChatEvent:
    return pb.ChatEvent(tool_result=pb.ToolResultEvent(call_id=f"c{step}", name="calculator", status="ok", summary="1", step=step))


def spent(total: int) -> pb.ChatEvent:
    return pb.ChatEvent(spent=pb.TurnSpent(usage=common_pb2.Usage(prompt_tokens=total - 10, completion_tokens=10, total_tokens=total)))


def completed(total: int) -> pb.ChatEvent:
    return pb.ChatEvent(completed=pb.TurnCompleted(message_id="msg_a", usage=common_pb2.Usage(total_tokens=total)))


STARTED = pb.ChatEvent(started=pb.TurnStarted(conversation_id="conv_1", assistant_message_id="msg_a"))
TOKEN = pb.ChatEvent(token=pb.TokenDelta(text="Hello", index=0))


async def charged(sessions, tmp_path, replies: list[pb.ChatEvent], resumed: bool = False) -> int:
    """The budget a turn that ended after `replies` used, as the day's counter shows it."""
    limits = Limits(GatewaySettings(var_dir=tmp_path, user_daily_token_budget=1_000_000), MemoryStore(), TenantPolicies(sessions))
    guard = await begin_turn(limits, ALICE, 0, ESTIMATE, stream=True)
    meter = TokenMeter(resumed)
    for reply in replies:
        meter.see(_turn_event(reply))
    await guard.finish(*meter.settlement())
    return (await limits.usage(ALICE))["user daily token budget"]["used"]


@pytest.mark.parametrize(("replies", "tokens"), [
    # Stopped before anything was generated: nothing used.
    ([STARTED], 0),
    # Completed: the completion's count, whatever came before.
    ([STARTED, tool_call(1), spent(700), tool_result(1), TOKEN, completed(900)], 900),
    # Stopped after two settled steps, the third under way: those steps and the estimate for it.
    ([STARTED, tool_call(1), spent(700), tool_result(1), tool_call(2), spent(1500), tool_result(2)], 1500 + ESTIMATE),
    ([STARTED, spent(40), TOKEN], 40 + ESTIMATE),
    # Stopped right after a step settled, nothing generated since: that step's total exactly.
    ([STARTED, TOKEN, spent(40)], 40),
    # A conversation service that sends no running total: tool steps ran, the estimate stands.
    ([STARTED, tool_call(1), tool_result(1)], ESTIMATE),
    ([STARTED, tool_call(1)], ESTIMATE),
])
async def test_a_turn_is_charged_what_its_events_say_it_used(sessions, tmp_path, replies, tokens):
    assert await charged(sessions, tmp_path, replies) == tokens


@pytest.mark.parametrize(("replies", "tokens"), [
    # The first leg (29 tokens) was charged when it paused; this leg's steps used 89 in all, and
    # its completion says 118, the whole run's.
    ([STARTED, tool_call(1), tool_result(1), spent(41), TOKEN, spent(89), completed(118)], 89),
    # Stopped mid-step: its settled steps and the estimate for the step under way.
    ([STARTED, tool_call(1), tool_result(1), spent(41), TOKEN], 41 + ESTIMATE),
    # A leg that sent no running total: the estimate, not the whole run again.
    ([STARTED, tool_result(1), TOKEN, completed(118)], ESTIMATE),
])
async def test_a_resumed_leg_is_charged_what_it_added(sessions, tmp_path, replies, tokens):
    assert await charged(sessions, tmp_path, replies, resumed=True) == tokens
