"""Usage rows as the gateway reports them: a row's cost is null only when none of it was priced.
An agent run's steps served by another provider than the answer's are booked on a row of their
own that counts no answer (turns 0): priced, its cost shows and joins the totals; unpriced, it
is null, never $0."""

from __future__ import annotations

from chatbot.conversation.v1 import conversation_pb2 as pb
from gateway.api.schemas.usage import totals_of, usage_days


def row(provider: str, turns: int, cost: str, unpriced: int) -> pb.UsageRow:
    return pb.UsageRow(day="2026-12-01", provider=provider, model="m", turns=turns, prompt_tokens=10, completion_tokens=2, cost=cost,
                       unpriced_turns=unpriced, kind="chat")


def test_a_step_row_shows_its_cost_and_an_unpriced_one_shows_none():
    days = usage_days(pb.TenantUsageResponse(rows=[row("answer", 1, "0.00003", 0), row("priced-step", 0, "0.00002", 0),
                                                   row("unpriced-step", 0, "0", 1), row("unpriced", 1, "0", 1)]))
    assert {d.provider: d.cost for d in days} == {"answer": "0.00003", "priced-step": "0.00002", "unpriced-step": None, "unpriced": None}
    assert totals_of(days).cost == "0.00005"


def test_a_row_with_priced_answers_and_more_unpriced_steps_shows_the_known_cost():
    # Two priced answers of model m and three unpriced steps booked on the same row by runs that
    # another provider answered: the row's cost is what was priced, not null (it was null when
    # the unpriced count reached the answers').
    days = usage_days(pb.TenantUsageResponse(rows=[row("mixed", 2, "0.00004", 3)]))
    assert days[0].cost == "0.00004" and days[0].unpriced_turns == 3
    assert totals_of(days).cost == "0.00004"
