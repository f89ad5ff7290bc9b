"""Going on with an agent run that paused for a person's approval: the run (its answer) is
found for its owner only, claimed once, within its window; the decisions go to the
orchestrator with the stored state, and the run streams on into the same answer, past the same
system-prompt leak guard as the turn that paused (its canary and prompt are stored with the
run), and is brought up to date on every path (ended, paused again, failed, or cut off by the
client).

A decision is final once a tool may have acted on it. The orchestrator announces each approved
call (a tool_call event) before it runs any. Only an error the call returned before any event
proves nothing ran (the decisions were refused, or the orchestrator was not reached): then the
claim is given back and the person may decide again. A cancellation or a deadline before the
first event proves nothing (the orchestrator may have taken the decisions), nor does a failure
after it: the run ends as interrupted or failed and a second decision is refused (a tool with
side effects never runs twice for one approval); when nothing came at all, each approved call
is stored as interrupted (it may have run), with its decision. A failed run keeps what its
stream told: the calls that ran, and its usage, booked.

The leg's usage is booked by turn.py's rule: the running total of the steps' usage events
(StepUsage), replaced by the run's totals when they come (RunEnd, RunFailed), so a leg that is
stopped, cut off or past its deadline books the steps it finished, and the text of the step cut
short, counted here as the turn counts it (RunUsage.cut_tokens, the turn's model's counter), on
the provider and model that served that step."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.guardrails.canary import LeakGuard, new_canary
from conversation.agent import (
    AWAITING_APPROVAL, AgentClient, ApprovalPending, Resume, RunEnd, RunFailed, RunPaused, RunUsage, StepUsage, ToolCallEvent,
    ToolResultEvent,
)
from conversation.llm import GenerateOptions, LlmClient, LlmDelta
from conversation.run_store import RunStore
from conversation.settings import ConversationSettings
from conversation.tokenizers import Counters, count_tokens
from conversation.turn import FINISH_CANCELLED, FINISH_ERROR, TurnCompleted, TurnEvent, TurnStarted, guarded
from conversation.usage import to_pico
from conversation.writes import ShieldedWrites

log = logging.getLogger(__name__)

ACTIONS = ("approve", "deny", "edit")


class ResumedRun:
    def __init__(self, store: RunStore, agent: AgentClient, settings: ConversationSettings, user_id: str, tenant_id: str,
                 roles: tuple[str, ...], run_id: str, decisions: tuple[tuple[str, str, str], ...], request_id: str = "", *,
                 counters: Counters, llm: LlmClient, writes: ShieldedWrites | None = None) -> None:
        self._store = store
        self._writes = writes or ShieldedWrites()
        self._counters, self._llm = counters, llm
        self._agent = agent
        self._settings = settings
        self._user_id, self._tenant_id, self._roles = user_id, tenant_id, roles
        self._run_id = run_id
        self._decisions = decisions
        self._request_id = request_id
        self._paused = None
        self._parts: list[str] = []
        self._recorded = False
        self._found = None
        self._lease = None  # the claim's end (run_store.claim)
        self._failed: RunFailed | None = None  # the usage and steps the orchestrator sent before its error
        self._seen: list[ToolCallEvent | ToolResultEvent] = []  # the run's calls and results as they streamed
        self._used = RunUsage()  # this leg's steps' usage as it came
        self._heard = False  # an event came: the decisions' outcome is known from the stream
        self._provider = self._model = ""  # the model serving (ModelSelected), once one is

    async def run(self) -> AsyncIterator[TurnEvent]:
        found = await self._store.find(self._run_id, self._user_id)
        if found is None:
            raise AppError(ErrorCode.NOT_FOUND, "run not found")
        before = found.message
        if await sweep(self._store, run_id=before.id):
            raise AppError(ErrorCode.CONFLICT, "the run was interrupted (its resume never finished)", {"run_id": before.id})
        if before.finish_reason == AWAITING_APPROVAL and (before.run_expires_at is None or before.run_expires_at <= utcnow()):
            await self._store.expire(before.id)
            raise AppError(ErrorCode.CONFLICT, "the run's approval window has passed: ask again", {"run_id": before.id})
        if before.finish_reason != AWAITING_APPROVAL or not before.run_state:
            raise AppError(ErrorCode.CONFLICT, "the run is not waiting for approval (decided already, or ended)", {"run_id": before.id})
        self._decisions = _expanded(self._decisions, [c["call_id"] for c in before.run_state.get("calls", [])])
        self._lease = await self._store.claim(before, self._settings.run_resume_lease_seconds, self._decisions)
        if self._lease is None:
            raise AppError(ErrorCode.CONFLICT, "the run is not waiting for approval (decided already, or ended)", {"run_id": before.id})
        self._found = found
        saved = before.run_state
        options = GenerateOptions(saved["model"], saved["provider"], saved.get("temperature"), saved.get("max_tokens"), self._request_id,
                                  self._user_id, self._tenant_id)
        # Runs paused before they kept their guard protect their whole system message, as they did.
        stream = self._agent.run([], options, tuple(saved["tools"]), self._roles, before.id,
                                 Resume(base64.b64decode(saved["state"]), self._decisions),
                                 protected=(saved.get("guard") or {}).get("prompt", ""))
        self._started = time.monotonic()
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            # An answer with nothing in it: nothing ran.
            await self._store.release(before, self._lease)
            raise AppError(ErrorCode.LLM_PROVIDER_ERROR, "the run ended without a result") from None
        except AppError as exc:
            await stream.aclose()
            if exc.code is ErrorCode.LLM_TIMEOUT:
                # The deadline passed while the orchestrator may have been at work on the decisions:
                # they stand, and the run ends as failed.
                await self._fail(exc)
            else:
                # Refused (or the orchestrator not reached) before anything ran: the person may decide again.
                await self._store.release(before, self._lease)
            raise
        except BaseException:
            # Cancelled (the client went away, or its deadline passed) with the decisions sent: they
            # may have been taken, so they stand; the run is kept as interrupted (record_interrupted).
            await stream.aclose()
            raise
        self._heard = True
        yield TurnStarted(found.conversation.id, before.parent_id or "", before.id)
        self._provider, self._model = before.provider, before.model
        guard = self._guard(saved, found.conversation)

        async def items():
            yield first
            async for item in stream:
                yield item

        try:
            async for item in guarded(items(), guard, self._parts, lambda: self._model):
                if isinstance(item, ModelSelected):
                    self._provider, self._model = item.provider, item.model
                    yield item
                elif isinstance(item, RunPaused):
                    self._paused = item
                elif isinstance(item, StepUsage):
                    self._used.add(item)
                    yield self._used.spent()
                elif isinstance(item, RunFailed):
                    self._failed = item  # the error follows
                elif isinstance(item, RunEnd):
                    after = self._answer(item)
                    stored = await self._save(after)
                    if stored.run_expires_at is not None and self._paused is not None:
                        yield ApprovalPending(stored.id, self._paused.calls, stored.run_expires_at)
                    yield TurnCompleted(stored)
                    return
                elif isinstance(item, LlmDelta):
                    self._used.feed(item.text)
                else:  # tokens, guardrails, tool calls and results
                    if isinstance(item, (ToolCallEvent, ToolResultEvent)):
                        self._seen.append(item)
                        self._used.saw(item)
                    yield item
        except AppError as exc:
            await self._fail(exc)
            raise
        finally:
            await stream.aclose()

    def _guard(self, saved: dict, conversation) -> LeakGuard:
        protected = saved.get("guard")
        if protected:
            return LeakGuard(protected["canary"], protected["prompt"])
        # Paused before runs kept their guard: the conversation's prompt, under a canary the run never had.
        return LeakGuard(new_canary(), conversation.system_prompt or self._settings.system_prompt)

    def _answer(self, end: RunEnd):
        before = self._found.message
        after = replace_message(before, content=before.content + "".join(self._parts), provider=self._provider, model=self._model,
                                finish_reason=end.finish_reason, prompt_tokens=end.prompt_tokens, completion_tokens=end.completion_tokens,
                                cached_prompt_tokens=end.cached_prompt_tokens, cost_pico_usd=to_pico(end.cost), steps=list(end.steps),
                                latency_ms=before.latency_ms + int((time.monotonic() - self._started) * 1000),
                                token_count=end.completion_tokens, run_state=None, run_expires_at=None)
        if end.finish_reason == AWAITING_APPROVAL and self._paused is not None:
            saved = dict(before.run_state)
            saved["state"] = base64.b64encode(self._paused.state).decode()
            saved["calls"] = [{"call_id": c.call_id, "name": c.name, "arguments": c.arguments, "step": c.step} for c in self._paused.calls]
            after.run_state = saved
            after.run_expires_at = utcnow() + timedelta(seconds=self._settings.run_approval_seconds)
        return after

    async def _save(self, after):
        self._recorded = True
        # Shielded, as ChatTurn._record: cancelled mid-write, the run would stay 'resuming' unbooked.
        return await self._writes.run(self._store.settle(self._found.message, after, self._found.conversation, self._lease),
                                      self._found.message.id)

    async def _fail(self, error: AppError | None, reason: str = FINISH_ERROR) -> None:
        """The run ended without its end: the answer keeps what it wrote, the steps the calls that ran
        (as the orchestrator told of them), and the ledger what the finished steps used (the totals
        the orchestrator sent before its error, or else the running total of the steps' usage)."""
        if self._recorded or self._found is None:
            return
        before = self._found.message
        usage = {}
        if (failed := self._failed) is not None:
            usage = dict(prompt_tokens=failed.prompt_tokens, completion_tokens=failed.completion_tokens,
                         cached_prompt_tokens=failed.cached_prompt_tokens, cost_pico_usd=to_pico(failed.cost),
                         token_count=failed.completion_tokens)
        elif (used := self._used).steps or used.cut:
            cost = None if used.cost_pico is None or before.cost_pico_usd is None else before.cost_pico_usd + used.cost_pico
            completion = before.completion_tokens + used.completion_tokens + await used.cut_tokens(self._count)
            usage = dict(prompt_tokens=before.prompt_tokens + used.prompt_tokens, completion_tokens=completion,
                         cached_prompt_tokens=(before.cached_prompt_tokens or 0) + used.cached_prompt_tokens, cost_pico_usd=cost,
                         token_count=completion)
        earlier = list(before.steps or ())
        known = {r.get("call_id") for r in earlier if isinstance(r, dict) and r.get("type") == "tool"}
        steps = list(failed.steps) if failed is not None else [*earlier, *self._used.records(known)]
        steps = executed(steps, self._seen, self._decisions, self._heard)
        after = replace_message(before, content=before.content + "".join(self._parts), finish_reason=reason,
                                provider=self._provider or before.provider, model=self._model or before.model,
                                error_code=error.code.value if error else "", error_message=error.message if error else "",
                                run_state=None, run_expires_at=None, steps=steps, **usage)
        await self._save(after)

    async def _count(self, texts: list[str]) -> list[int]:
        """Counted as the turn that started the run counted: by its model's counter (the model's own
        tokenizer when this service has it), else by the estimate."""
        saved = self._found.message.run_state or {}
        try:
            counter, _ = self._counters.for_model(await self._llm.model(saved.get("model", ""), saved.get("provider", "")))
        except AppError:
            counter = self._counters.default  # the catalogue out of reach: an estimate, rather than nothing booked
        return await count_tokens(counter, texts)

    async def record_interrupted(self) -> None:
        """The client went away: keep what the run wrote so far."""
        await self._fail(None, FINISH_CANCELLED)


async def sweep(store: RunStore, *, run_id: str = "", conversation_id: str = "") -> int:
    """Ends the runs left 'resuming' past their lease (see run_store) as a run stopped before
    anything came back: cancelled, its text kept, each approved call interrupted (it may have run)
    with its decision, nothing more booked (what the lost leg used died with its resumer).
    Returns how many this call ended."""
    ended = 0
    for run in await store.stale(run_id=run_id, conversation_id=conversation_id):
        decisions = tuple(tuple(d) for d in (run.run_state or {}).get("decisions", ()))
        values = dict(finish_reason=FINISH_CANCELLED, run_state=None, run_expires_at=None,
                      error_message="the run was interrupted: its resume did not finish",
                      steps=executed(list(run.steps or ()), [], decisions, heard=False))
        if await store.interrupt(run, values):
            log.warning("a resumed run outlived its claim: ended as interrupted", extra={"run_id": run.id})
            ended += 1
    return ended


def executed(steps: list[dict], seen: list, decisions: tuple[tuple[str, str, str], ...], heard: bool = True) -> list[dict]:
    """The steps of a run that failed after its decisions were taken, with what the stream told of
    each approved call: the decision, and the call's result, or "interrupted" when the call was
    announced (it began to run) and no result came. When nothing came (`heard` false: a deadline
    or a cancellation before the first event), the orchestrator may have taken the decisions:
    each approved (or edited) call is "interrupted", each other "denied" (a denied call never
    runs), with its decision. Records the orchestrator already completed are left as they are."""
    steps = [dict(s) if isinstance(s, dict) else s for s in steps]
    actions = {call_id: (action, arguments) for call_id, action, arguments in decisions}
    results = {e.call_id: e for e in seen if isinstance(e, ToolResultEvent)}
    announced = {e.call_id: e for e in seen if isinstance(e, ToolCallEvent)}
    for record in steps:
        if not isinstance(record, dict) or record.get("type") != "tool" or record.get("status") != AWAITING_APPROVAL:
            continue
        call_id = record.get("call_id")
        if call_id in results:
            result = results[call_id]
            record.update(status=result.status, summary=result.summary)
        elif call_id in announced:
            record["status"] = "interrupted"
        elif not heard:
            action = actions.get(call_id, ("deny", ""))[0]
            record.update(status="interrupted" if action != "deny" else "denied", decision=action)
            continue
        else:
            continue
        action = actions.get(call_id, ("approve", ""))[0] if call_id in announced else "deny"
        record["decision"] = action
        if action == "edit" and call_id in announced:
            record["arguments"] = announced[call_id].arguments
    return steps


def replace_message(message, **changes):
    """A detached copy of a stored message with some columns changed."""
    from conversation.models import Message

    columns = {c.key: getattr(message, c.key) for c in Message.__table__.columns}
    columns.update(changes)
    return Message(**columns)


def _expanded(decisions: tuple[tuple[str, str, str], ...], pending: list[str]) -> tuple[tuple[str, str, str], ...]:
    """The decisions per call: one without a call id stands for every pending call (an edit only
    when there is one)."""
    for call_id, action, _ in decisions:
        if action not in ACTIONS:
            raise AppError(ErrorCode.VALIDATION_ERROR, "decision must be approve, deny or edit", {"field": "decision"})
        if call_id and call_id not in pending:
            raise AppError(ErrorCode.VALIDATION_ERROR, "no such call waits for approval in this run", {"field": "call_id"})
    general = [d for d in decisions if not d[0]]
    if not general:
        return decisions
    _, action, arguments = general[0]
    if action == "edit" and len(pending) != 1:
        raise AppError(ErrorCode.VALIDATION_ERROR, "several calls wait: name the one edited (call_id)", {"field": "call_id"})
    named = {d[0]: d for d in decisions if d[0]}
    return tuple(named.get(c, (c, action, arguments)) for c in pending)
