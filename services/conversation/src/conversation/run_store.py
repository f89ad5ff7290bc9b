"""Storage of agent runs paused for approval, on their answers (the messages table): found by
the run's id (the answer's) for its conversation's owner only, claimed by one resumer at a
time, and the answer brought up to date when the run goes on.

run_expires_at is the run's version as well as its deadline: each pause sets a new approval
window, and a claim replaces it with the claim's lease (`claim`), so a claim made from a state
read before another resume paused the run again finds a different value and fails. A run still
'resuming' once its lease has passed was left by a resumer that never came back (a crashed
replica, a cancellation mid-claim): `stale` finds it and `interrupt` ends it, each a conditional
UPDATE, so with several replicas one of them ends it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot_common.db import utcnow
from conversation.agent import AWAITING_APPROVAL
from conversation.models import Conversation, Message
from conversation.repository import add_usages, usage_by_model, usage_tally

log = logging.getLogger(__name__)

RESUMING = "resuming"  # claimed: one resumer goes on with the run
EXPIRED = "approval_expired"


@dataclass(frozen=True)
class PausedRun:
    message: Message
    conversation: Conversation


class RunStore:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def find(self, run_id: str, user_id: str) -> PausedRun | None:
        """The run's answer and conversation, if the conversation is the user's."""
        async with self._sessions() as session:
            row = (await session.execute(
                select(Message, Conversation).join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.id == run_id, Message.role == "assistant", Conversation.user_id == user_id)
            )).one_or_none()
        return PausedRun(row[0], row[1]) if row is not None else None

    async def claim(self, before: Message, lease_seconds: float, decisions: tuple[tuple[str, str, str], ...]) -> datetime | None:
        """Takes the paused run for one resumer (two approvals at once: one wins), if its window is
        open and it is still the state `before` was read from (not paused again since by another
        resume): the lease's end, or None. The decisions are kept with the claim, for a run whose
        resumer never comes back (`interrupt`)."""
        lease = utcnow() + timedelta(seconds=lease_seconds)
        state = {**(before.run_state or {}), "decisions": [list(d) for d in decisions]}
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Message).where(Message.id == before.id, Message.finish_reason == AWAITING_APPROVAL,
                                      Message.run_expires_at == before.run_expires_at, Message.run_expires_at > utcnow())
                .values(finish_reason=RESUMING, run_expires_at=lease, run_state=state))
        return lease if result.rowcount else None

    async def expire(self, run_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(Message).where(Message.id == run_id, Message.finish_reason == AWAITING_APPROVAL)
                                  .values(finish_reason=EXPIRED, run_state=None))

    async def release(self, before: Message, lease: datetime) -> None:
        """The claim given back (the decisions were refused before anything ran): the run waits again
        as it was."""
        async with self._sessions() as session, session.begin():
            await session.execute(update(Message).where(Message.id == before.id, Message.finish_reason == RESUMING,
                                                        Message.run_expires_at == lease)
                                  .values(finish_reason=AWAITING_APPROVAL, run_expires_at=before.run_expires_at,
                                          run_state=before.run_state))

    async def stale(self, *, run_id: str = "", conversation_id: str = "") -> list[Message]:
        """The runs (of one run id, or of one conversation) still 'resuming' past their lease."""
        query = select(Message).where(Message.finish_reason == RESUMING, Message.run_expires_at <= utcnow())
        query = query.where(Message.id == run_id) if run_id else query.where(Message.conversation_id == conversation_id)
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())

    async def interrupt(self, run: Message, values: dict) -> bool:
        """Ends a run found `stale`, if it still is (one replica of several does it)."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Message).where(Message.id == run.id, Message.finish_reason == RESUMING,
                                      Message.run_expires_at == run.run_expires_at).values(**values))
        return bool(result.rowcount)

    async def settle(self, before: Message, after: Message, conversation: Conversation, lease: datetime) -> Message:
        """The answer as the run left it, and what this leg of the run used added to the ledger
        (the run's totals less what the answer held: the turn itself was counted when paused),
        each of the leg's model steps on the provider and model that served it; only while the
        claim (its `lease`) holds: a run ended as interrupted meanwhile is left as it is."""
        values = {c: getattr(after, c) for c in (
            "content", "model", "provider", "finish_reason", "prompt_tokens", "completion_tokens", "latency_ms", "error_code",
            "error_message", "token_count", "cached_prompt_tokens", "cost_pico_usd", "steps", "run_state", "run_expires_at")}
        tally = usage_tally(after.prompt_tokens - before.prompt_tokens, after.completion_tokens - before.completion_tokens,
                            (after.cached_prompt_tokens or 0) - (before.cached_prompt_tokens or 0),
                            None if after.cost_pico_usd is None else after.cost_pico_usd - (before.cost_pico_usd or 0), False)
        tally["turns"] = 0
        tally["unpriced_turns"] = int(after.cost_pico_usd is None and before.cost_pico_usd is not None)
        paused_at = max((_model_step(s) for s in before.steps or ()), default=0)
        leg = [s for s in after.steps or () if _model_step(s) > paused_at]
        async with self._sessions() as session, session.begin():
            result = await session.execute(update(Message).where(Message.id == before.id, Message.finish_reason == RESUMING,
                                                                 Message.run_expires_at == lease).values(**values))
            if not result.rowcount:
                log.warning("a resumed run outlived its claim: it was ended as interrupted, its leg is not booked",
                            extra={"run_id": before.id})
                return after
            await add_usages(session, conversation.tenant_id, conversation.user_id, utcnow().date(),
                             usage_by_model(after.provider or before.provider, after.model or before.model, tally, leg))
        return after


def _model_step(step) -> int:
    """A model step's number (0 for anything else)."""
    return int(step.get("step") or 0) if isinstance(step, dict) and step.get("type") == "model" else 0
