"""One chat turn: persist the user message, fit history into the context window, stream the
answer, persist the assistant message with usage and timings. The assistant message is
stored on every path: completed, failed at the provider, or cut off by the client.

A turn costs one rag.Search and one llm.Generate: the model's context window comes from the
catalogue the LlmClient caches, and tokens are counted here with the model's own tokenizer when
this service has it (conversation.tokenizers). The prompt is the system prompt with the
conversation's summary and the user's remembered facts, the retrieved sources, as much verbatim
history as its share of the window holds (conversation.context_window), and the question. A
turn never waits for memory work: it schedules a summary when the history passes its trigger,
and a title after the first exchange (conversation.summaries), and goes on.
What the gateway validated (a non-blank message, a well-formed conversation id, parameters
in range) is trusted, as conversation.proto says.

An agent run's usage is booked by one rule, on every path: the orchestrator sends each model
step's usage as soon as the step is settled (StepUsage), and the run's totals with its end
(RunEnd) or before its error (RunFailed). Those totals include every step already sent, so
they replace the running total, never add to it. A run that ends without them (stopped, the
client gone, a deadline, the leak guard, an error that came alone) books the running total:
each settled step on its provider and model, plus the text of the step cut short, counted
here (its prompt is unknown: nothing reported it)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from dataclasses import dataclass, replace

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.guardrails.canary import LEAK_STOPPED, LeakGuard, guarded_system_prompt, new_canary
from chatbot_common.guardrails.injection import detect
from chatbot_common.ids import new_id
from conversation.context_window import (
    Budget, DoesNotFit, costs, fit_history, fit_newest, history_allowance, needs_summary, share,
)
from conversation.grounding import (
    NO_SOURCES_NOTE,
    NOT_FOUND_ANSWER,
    SOURCE_OVERHEAD,
    Passage,
    SearchResult,
    SourceSearch,
    Spotlight,
    citation_dicts,
    select,
)
from conversation.agent import (
    AWAITING_APPROVAL, AgentClient, ApprovalPending, RunEnd, RunFailed, RunPaused, RunUsage, Spent, StepUsage, ToolCallEvent,
    ToolResultEvent,
)
from conversation.llm import GenerateOptions, LlmClient, LlmDelta, LlmEnd
from conversation.memory_store import MemoryState, MemoryStore, TooManyFacts
from conversation.online_evaluation import OnlineEvaluation
from conversation.models import Conversation, Message
from conversation.usage import to_pico
from conversation.repository import Repository
from conversation.settings import ConversationSettings
from conversation.summaries import BackgroundWork
from conversation.tokenizers import Counters, count_tokens
from conversation.user_memory import facts_block, facts_in, summary_block
from conversation.writes import ShieldedWrites

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnRequest:
    user_id: str
    tenant_id: str
    message: str
    conversation_id: str = ""
    model: str = ""
    provider: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    request_id: str = ""
    system_prompt: str = ""
    use_rag: bool | None = None  # None: on when the caller has indexed documents
    injection_policy: str = "block"  # for retrieved passages: block | flag (both leave them out) | allow
    edit_message_id: str = ""  # `message` replaces this user message, in a new branch
    regenerate_message_id: str = ""  # a new answer to the question this answer answered, in a new branch
    cache: bool = True  # False: the person opted out of the semantic cache for this turn
    quality: str = ""  # for a routing alias ("auto"): the quality tier asked for
    budget_left: float | None = None  # for a routing alias: the share of the tightest token budget left
    tools: tuple[str, ...] = ()  # an agent run with these tools (("auto",): every tool the caller may use)
    roles: tuple[str, ...] = ()  # the caller's roles (which tools they may use)


@dataclass(frozen=True)
class TurnStarted:
    conversation_id: str
    user_message_id: str
    assistant_message_id: str


@dataclass(frozen=True)
class Token:
    text: str
    index: int


@dataclass(frozen=True)
class Citations:
    citations: list[dict]


@dataclass(frozen=True)
class TurnCompleted:
    message: Message


@dataclass(frozen=True)
class Guardrail:
    kind: str  # injection_in_source | system_prompt_leak
    action: str  # excluded | stopped
    categories: tuple[str, ...] = ()
    document_id: str = ""
    chunk_id: str = ""


TurnEvent = (TurnStarted | Citations | ModelSelected | Token | TurnCompleted | Guardrail | ToolCallEvent | ToolResultEvent | ApprovalPending
             | Spent)

FINISH_CANCELLED = "cancelled"
FINISH_ERROR = "error"
KNOWLEDGE_BASE = "knowledge-base"  # the "provider" of an answer given without the model


# History messages whose stored count must be redone are counted this many at a time.
_RECOUNT_WINDOW = 16


class ChatTurn:
    def __init__(
        self, repo: Repository, llm: LlmClient, counters: Counters, settings: ConversationSettings,
        request: TurnRequest, sources: SourceSearch | None = None, memory: MemoryStore | None = None,
        background: BackgroundWork | None = None, agent: AgentClient | None = None,
        evaluations: OnlineEvaluation | None = None, writes: ShieldedWrites | None = None,
    ) -> None:
        self._evaluations = evaluations
        self._writes = writes or ShieldedWrites()  # the service's: its shutdown waits for them
        self._repo = repo
        self._agent = agent
        self._steps: list[dict] = []
        self._paused: RunPaused | None = None
        self._protected: tuple[str, str] = ("", "")  # the canary and the prompt the leak guard protects
        self._model_requested = self._provider_requested = ""
        self._llm = llm
        self._counters = counters
        self._counter = counters.default  # until the model is known
        self._memory = memory
        self._background = background
        self._history_cost = 0  # the history not yet summarised, with this turn's question (summary trigger)
        self._history_allowance = 0
        self._budget: Budget | None = None
        self._sources = sources
        self._citations: list[dict] = []
        self._nothing_relevant = False
        self._settings = settings
        self._req = request
        self._conversation: Conversation | None = None
        self._parts: list[str] = []
        self._provider = ""
        self._model = ""
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._cached_prompt_tokens = 0
        # Nothing spent until a model is called; then unknown until the orchestrator prices it.
        self._cost_pico: int | None = 0
        self._served: dict = {}
        self._used = RunUsage()  # an agent run's steps' usage as it came
        self._totals = False  # the run's totals came (RunEnd, RunFailed): they replace the running total
        self._counts_exact = False
        self._started = time.monotonic()
        self._first_token_at: float | None = None
        self._recorded = False
        self._guardrails: list[Guardrail] = []
        self._spotlight = Spotlight(settings.datamark_sources)
        self._answer_id = new_id("msg")  # named in TurnStarted, so known before the answer is stored
        self._question_id: str | None = None  # the user message answered: the answer's parent
        self._searching: asyncio.Future[tuple[SearchResult | None, AppError | None]] | None = None

    async def _count(self, texts: list[str]) -> list[int]:
        return await count_tokens(self._counter, texts)

    def _new_conversation(self) -> Conversation:
        req = self._req
        now = utcnow()
        return Conversation(
            id=new_id("conv"), user_id=req.user_id, tenant_id=req.tenant_id, title=" ".join(req.message.split())[: self._settings.title_length],
            model=req.model, provider=req.provider, system_prompt=req.system_prompt, message_count=0, created_at=now, updated_at=now,
            title_source="first_message",
        )

    async def run(self) -> AsyncIterator[TurnEvent]:
        # The search needs nothing but the question: it runs while the turn is checked and the
        # message stored (the rag service's answer is what the model waits for longest). A
        # regenerated answer's question is stored: its search starts once it is read.
        if not self._req.regenerate_message_id:
            self._searching = asyncio.ensure_future(self._search(self._req.message))
        try:
            # Closed with this generator (the client left): its Generate call is cancelled at once.
            async with contextlib.aclosing(self._run()) as events:
                async for event in events:
                    yield event
        finally:
            if self._searching is not None:
                self._searching.cancel()

    async def _run(self) -> AsyncIterator[TurnEvent]:
        req = self._req
        # Look up the conversation (and the message edited or answered again) before anything
        # is written, so a bad id writes nothing.
        conv = None
        if req.conversation_id:
            conv = await self._repo.get_conversation(req.conversation_id, req.user_id)
            if conv is None:
                raise AppError(ErrorCode.NOT_FOUND, "conversation not found")
        parent_id, question = await self._place(conv)
        if question is not None:
            self._searching = asyncio.ensure_future(self._search(question.content))
        model = req.model or (conv.model if conv else "") or self._settings.default_model
        provider = req.provider or (conv.provider if conv else "")
        self._model_requested, self._provider_requested = model, provider
        system_prompt = (conv.system_prompt if conv else req.system_prompt) or self._settings.system_prompt
        # A fresh canary heads the system prompt on every turn; a reply that repeats it, or
        # quotes a run of the prompt, is stopped before any of it leaves.
        canary = new_canary()
        system_prompt = guarded_system_prompt(system_prompt, canary)
        reserve = req.max_tokens or self._settings.default_max_tokens

        # An unknown model is refused here, before anything is written.
        facts = await self._llm.model(model, provider)
        if req.tools:
            if self._agent is None:
                raise AppError(ErrorCode.VALIDATION_ERROR, "tools are not available here", {"field": "tools"})
            await self._agent.check_tools(req.tools, req.user_id, req.tenant_id, req.roles)
        self._counter, self._counts_exact = self._counters.for_model(facts)
        budget = Budget(facts.context_window, min(reserve, facts.context_window // 2),
                        0.0 if self._counts_exact else self._settings.estimate_margin)
        text = question.content if question is not None else req.message
        system_tokens, user_tokens = await self._count([system_prompt, text])
        try:
            fit_history(budget, [system_tokens, user_tokens], [])
        except DoesNotFit as exc:
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"message is too long for the model's context window ({exc.needed} tokens, {exc.limit} available)",
                {"field": "message", "tokens": exc.needed, "limit": exc.limit},
            ) from None

        new_conversation = None
        if conv is None:
            conv = new_conversation = self._new_conversation()
        self._conversation = conv
        limit = self._settings.history_limit
        # The history is read back to the summary's last message at most (what the summary
        # retells is not sent again), so a turn's reads do not grow with the conversation.
        summarised_through = conv.summary_through_id if conv.summary else ""
        # The user's memory is read beside the writes (one more query, no more waiting).
        memory_read = self._memory.state(req.user_id, req.tenant_id) if self._memory is not None else _no_memory()
        if question is not None:
            # Answered again: the question is stored already; it is current until its new answer is.
            user_message = question
            _, recent, memory = await asyncio.gather(
                self._repo.set_current(conv.id, question.id), self._repo.branch(conv.id, parent_id, limit, summarised_through),
                memory_read)
        else:
            user_message = Message(
                id=new_id("msg"), conversation_id=conv.id, role="user", content=req.message, parent_id=parent_id,
                token_count=user_tokens, token_counter=self._counter.name, citations=[], created_at=utcnow(),
            )
            # The message is stored (a new conversation with it) while the history is read.
            _, recent, memory = await asyncio.gather(
                self._repo.add_message(user_message, new_conversation),
                self._repo.branch(conv.id, parent_id, limit, summarised_through) if new_conversation is None else _nothing(),
                memory_read,
            )
            memory = await self._remember(conv, memory, text)
        self._question_id = user_message.id
        found, search_error = await self._searching
        yield TurnStarted(conv.id, user_message.id, self._answer_id)

        # Memory first (the summary, then the user's facts), then sources, then history.
        summarised, history = unsummarised_history(recent, conv.summary_through_id if conv.summary else "", user_message.id, limit)
        memory_text, memory_tokens = await self._memory_blocks(budget, system_tokens, user_tokens, conv.summary if summarised else "",
                                                               [f.content for f in memory.facts] if memory.active else [])
        system_tokens += memory_tokens

        try:
            if search_error is not None:
                raise search_error
            sources, source_tokens, instruction_tokens = await self._ground(found, budget, system_tokens, user_tokens)
        except AppError as exc:
            await self._record(FINISH_ERROR, exc)
            raise
        for event in self._guardrails:
            yield event
        if sources is not None and not sources:
            # Asked to answer from documents and nothing relevant was found: say so, invent nothing.
            async for event in self._answer_without_model(NOT_FOUND_ANSWER):
                yield event
            return
        user_content = text
        if self._nothing_relevant:
            system_prompt = f"{system_prompt}\n\n{NO_SOURCES_NOTE}"
        if sources:
            self._citations = citation_dicts(sources)
            yield Citations(self._citations)
            system_prompt = f"{system_prompt}\n\n{self._spotlight.instructions}"
            system_tokens += instruction_tokens
            user_tokens += source_tokens
            user_content = self._spotlight.user_message(text, sources)

        self._history_allowance = history_allowance(budget.input_limit - costs(budget, [system_tokens, user_tokens]),
                                                     self._settings.history_tokens)
        history_tokens = await self._newest_counts(budget, history, self._history_allowance)
        keep, _ = fit_newest(budget, self._history_allowance, history_tokens)
        self._history_cost = costs(budget, history_tokens) + budget.cost(user_tokens - source_tokens if sources else user_tokens)
        self._budget = budget
        prompt = [("system", f"{system_prompt}\n\n{memory_text}" if memory_text else system_prompt)]
        prompt += [(m.role, m.content) for m in history[len(history) - keep:]] if keep else []
        prompt.append(("user", user_content))

        # Regenerate and edit ask for a new answer: the cache neither gives the same one again nor keeps it.
        cacheable = req.cache and not req.tools and not sources and not memory_text and not req.regenerate_message_id and not req.edit_message_id
        options = GenerateOptions(model, provider, req.temperature, req.max_tokens or self._settings.default_max_tokens, req.request_id, req.user_id,
                                  req.tenant_id, cacheable=cacheable, quality=req.quality,
                                  budget_left=req.budget_left)
        guard = LeakGuard(canary, system_prompt)
        self._protected = (canary, system_prompt)
        if req.tools:
            stream = self._agent.run(prompt, options, req.tools, req.roles, self._answer_id, protected=system_prompt)
        else:
            stream = self._llm.generate(prompt, options)
        try:
            async for item in guarded(stream, guard, self._parts, lambda: self._model):
                if isinstance(item, LlmDelta):
                    self._used.feed(item.text)
                    if self._first_token_at is None:
                        self._first_token_at = time.monotonic()
                elif isinstance(item, ModelSelected):
                    self._provider, self._model = item.provider, item.model
                    self._cost_pico = None
                    yield item
                elif isinstance(item, RunPaused):
                    self._paused = item  # told to the client once the paused answer is stored
                elif isinstance(item, StepUsage):
                    self._used.add(item)
                    yield self._used.spent()
                elif isinstance(item, RunFailed):
                    # The run fails next: what its finished steps used is booked with the failed answer.
                    self._totals = True
                    self._prompt_tokens, self._completion_tokens = item.prompt_tokens, item.completion_tokens
                    self._cached_prompt_tokens, self._cost_pico, self._steps = item.cached_prompt_tokens, to_pico(item.cost), list(item.steps)
                elif isinstance(item, LlmEnd):
                    self._totals = True
                    self._prompt_tokens, self._completion_tokens = item.prompt_tokens, item.completion_tokens
                    self._cached_prompt_tokens, self._cost_pico, self._served = item.cached_prompt_tokens, to_pico(item.cost), item.served or {}
                    if isinstance(item, RunEnd):
                        self._steps = list(item.steps)
                    completed = await self._record(item.finish_reason)
                    if completed is not None and completed.run_expires_at is not None and self._paused is not None:
                        yield ApprovalPending(completed.id, self._paused.calls, completed.run_expires_at)
                    else:
                        self._schedule_memory_work(conv)
                    if self._evaluations is not None:  # sampled and enqueued in the background, never awaited
                        self._evaluations.after_answer(completed, req.tenant_id)
                    yield TurnCompleted(completed)
                    return
                else:  # tokens, guardrails, tool calls and results
                    if isinstance(item, (ToolCallEvent, ToolResultEvent)):
                        self._used.saw(item)
                    yield item
        except AppError as exc:
            await self._record(FINISH_ERROR, exc)
            raise
        finally:
            await stream.aclose()

    async def _newest_counts(self, budget: Budget, history: list[Message], allowance: int) -> list[int]:
        """The token counts of the newest history messages, oldest first, as far back as the
        allowance reaches and one past it (enough for what fits, and for the summary trigger,
        which a history over its allowance has passed). A stored count measured by another
        tokenizer (or none: an answer of a model counted by estimate) is counted again here, a
        few messages at a time, newest first; older messages are never counted on this turn."""
        counts: list[int] = []
        cost = 0
        end = len(history)
        while end > 0 and cost <= allowance:
            window = history[max(0, end - _RECOUNT_WINDOW):end]
            stale = [i for i, m in enumerate(window) if m.token_counter != self._counter.name]
            fresh = dict(zip(stale, await self._count([window[i].content for i in stale]), strict=True)) if stale else {}
            for i in range(len(window) - 1, -1, -1):
                tokens = fresh.get(i, window[i].token_count)
                counts.append(tokens)
                cost += budget.cost(tokens)
                if cost > allowance:
                    break
            end -= len(window)
        return counts[::-1]

    async def _remember(self, conv: Conversation, state: MemoryState, new_text: str) -> MemoryState:
        """Stores the facts a new message asks to remember (while memory is on for its author),
        so this very turn has them."""
        said = facts_in(new_text) if state.active and self._memory is not None else []
        if not said:
            return state
        req = self._req
        for fact in said:
            try:
                await self._memory.add(req.user_id, req.tenant_id, fact, "chat", conv.id, self._settings.memory_max_facts)
            except TooManyFacts:
                log.info("user memory full; a fact was not stored", extra={"max_facts": self._settings.memory_max_facts})
                break
        return await self._memory.state(req.user_id, req.tenant_id)

    async def _memory_blocks(self, budget: Budget, system_tokens: int, user_tokens: int, summary: str,
                             facts: list[str]) -> tuple[str, int]:
        """The summary and the newest facts that fit the memory allowance, as text for the system
        message, with their token count (the summary goes whole or not at all)."""
        if not summary and not facts:
            return "", 0
        allowance = share(budget.input_limit - costs(budget, [system_tokens, user_tokens]), self._settings.memory_tokens,
                          self._settings.memory_fraction)
        blocks, used = [], 0
        if summary:
            (tokens,) = await self._count([summary_block(summary)])
            if budget.inline_cost(tokens + 2) <= allowance:
                blocks.append(summary_block(summary))
                used += budget.inline_cost(tokens + 2)
        if facts:
            header, *counts = await self._count([facts_block([]), *(f"- {f}" for f in facts)])
            room, cost, kept = allowance - used - budget.inline_cost(header + 2), 0, 0
            for count in reversed(counts):  # the newest facts first, each a line
                if cost + budget.inline_cost(count + 1) > room:
                    break
                cost += budget.inline_cost(count + 1)
                kept += 1
            if kept:
                blocks.append(facts_block(facts[len(facts) - kept:]))
                used += budget.inline_cost(header + 2) + cost
        return "\n\n".join(blocks), used

    def _schedule_memory_work(self, conv: Conversation) -> None:
        """After an answer: a title after the first exchange, a summary once the history passes its
        trigger. Neither is awaited."""
        if self._background is None or self._budget is None:
            return
        if conv.title_source == "first_message":
            self._background.title_later(conv.id)
        answer = self._budget.cost(self._completion_tokens) if self._completion_tokens else 0
        if needs_summary(self._history_cost + answer, self._history_allowance, self._settings.summary_trigger):
            self._background.summarise_later(conv.id, int(self._history_allowance * self._settings.summary_keep_share))

    async def _place(self, conv: Conversation | None) -> tuple[str | None, Message | None]:
        """Where the turn goes in the conversation's tree: the message the new user message
        follows, and for a regeneration the stored question answered again (no new message)."""
        req = self._req
        if conv is None:
            if req.edit_message_id or req.regenerate_message_id:
                raise AppError(ErrorCode.VALIDATION_ERROR, "editing or regenerating needs the conversation", {"field": "conversation_id"})
            return None, None
        if req.edit_message_id:
            edited = await self._repo.get_message(conv.id, req.edit_message_id)
            if edited is None or edited.role != "user":
                raise AppError(ErrorCode.NOT_FOUND, "message to edit not found (a message of yours in this conversation)")
            return edited.parent_id, None
        if req.regenerate_message_id:
            answer = await self._repo.get_message(conv.id, req.regenerate_message_id)
            question = await self._repo.get_message(conv.id, answer.parent_id) if answer is not None and answer.parent_id else None
            if answer is None or answer.role != "assistant" or question is None or question.role != "user":
                raise AppError(ErrorCode.NOT_FOUND, "answer to regenerate not found (an answer in this conversation)")
            return question.parent_id, question
        return conv.current_message_id or None, None

    async def _search(self, question: str) -> tuple[SearchResult | None, AppError | None]:
        """The rag service's candidates for this turn (None for a plain turn), or why grounding
        that was asked for failed. Never raises: it runs beside the turn's checks and the storing
        of the message, and a failure is the turn's to report once the message is stored."""
        req = self._req
        if req.use_rag is False or self._sources is None:
            return None, None
        try:
            return await self._sources.search(req.user_id, req.tenant_id, question, self._settings.rag_candidates), None
        except AppError as exc:
            if req.use_rag is True:
                return None, exc
            # Grounding was only the default: answer without documents rather than not at all.
            log.warning("retrieval unavailable; answering without documents", extra={"code": exc.code.value})
            return None, None

    async def _ground(self, found: SearchResult | None, budget: Budget, system_tokens: int,
                      user_tokens: int) -> tuple[list[Passage] | None, int, int]:
        """The sources for this turn: None for a plain turn, [] when grounding was asked for
        and nothing relevant exists, else the chosen passages; with their token count and the
        grounding instructions' (the instructions join the system prompt)."""
        explicit = self._req.use_rag is True
        if found is None:
            return None, 0, 0
        passages = self._screen(found.passages)
        if not passages:
            self._nothing_relevant = found.searchable_documents > 0
            return ([] if explicit else None), 0, 0
        # Each source as it will appear in the prompt (header and quoted text), so the budget holds.
        instruction_tokens, *counts = await self._count([self._spotlight.instructions, *(self._spotlight.block(0, p) for p in passages)])
        system_tokens += instruction_tokens
        free = budget.input_limit - budget.cost(system_tokens) - budget.cost(user_tokens)
        allowance = min(self._settings.rag_context_tokens, int(free * self._settings.rag_context_fraction))
        chosen = select(passages, counts, allowance, self._settings.rag_max_sources)
        if not chosen:
            self._nothing_relevant = True
            return ([] if explicit else None), 0, 0
        source_tokens = sum(counts[i] + SOURCE_OVERHEAD for i in chosen) + SOURCE_OVERHEAD
        return [passages[i] for i in chosen], source_tokens, instruction_tokens

    def _screen(self, passages: list[Passage]) -> list[Passage]:
        """Retrieved text is data: a passage carrying instructions for the model (attack phrases,
        or orders addressed to the assistant) is left out (unless the tenant's policy is `allow`)
        and reported for the audit log; invisible characters are removed from the rest."""
        kept = []
        for passage in passages:
            verdict = detect(passage.text, "document")
            # The title and section path go into the prompt too (a heading can carry an order).
            heading = detect(f"{passage.title}\n{passage.section}", "document")
            categories = tuple(sorted(set(verdict.categories) | set(heading.categories)))
            if categories and self._req.injection_policy != "allow":
                self._guardrails.append(Guardrail("injection_in_source", "excluded", categories,
                                                  passage.document_id, passage.chunk_id))
                continue
            kept.append(replace(passage, text=verdict.cleaned) if verdict.stripped_invisible else passage)
        return kept

    async def _answer_without_model(self, text: str) -> AsyncIterator[TurnEvent]:
        self._provider, self._model = KNOWLEDGE_BASE, "no-sources"
        yield ModelSelected(self._provider, self._model)
        self._first_token_at = time.monotonic()
        self._parts.append(text)
        yield Token(text, 0)
        (self._completion_tokens,) = await self._count([text])
        yield TurnCompleted(await self._record("stop"))

    async def record_interrupted(self) -> None:
        """The client went away: keep what was generated so far."""
        await self._record(FINISH_CANCELLED)

    async def _record(self, finish_reason: str, error: AppError | None = None) -> Message | None:
        if self._recorded or self._conversation is None:
            return None
        self._recorded = True
        # Shielded: a stop or a client gone while the answer is written must not roll it back (the
        # flag above already keeps record_interrupted from writing it, so the answer and its usage
        # would be lost: a run stopped at its very end would be free).
        return await self._writes.run(self._write(finish_reason, error), self._answer_id)

    async def _write(self, finish_reason: str, error: AppError | None) -> Message:
        now = time.monotonic()
        content = "".join(self._parts)
        used = self._used
        if used.steps and not self._totals:
            # A run cut short after some steps (see the module's docstring): the running total.
            self._prompt_tokens, self._completion_tokens = used.prompt_tokens, used.completion_tokens + await used.cut_tokens(self._count)
            self._cached_prompt_tokens, self._cost_pico, self._steps = used.cached_prompt_tokens, used.cost_pico, used.records()
        elif finish_reason != "stop" and not self._completion_tokens and content:
            # Cut short before the provider reported usage: count what we have.
            (self._completion_tokens,) = await self._count([content])
        message = Message(
            id=self._answer_id,
            conversation_id=self._conversation.id,
            parent_id=self._question_id,
            role="assistant",
            content=content,
            model=self._model,
            provider=self._provider,
            finish_reason=finish_reason,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens,
            latency_ms=int((now - self._started) * 1000),
            ttft_ms=int((self._first_token_at - self._started) * 1000) if self._first_token_at else 0,
            error_code=error.code.value if error else "",
            error_message=error.message if error else "",
            citations=self._citations,
            token_count=self._completion_tokens,
            # Usage is in the serving model's tokens; it doubles as the stored count only when
            # that model's tokenizer is the one counting (otherwise the next turn recounts).
            token_counter=self._counter.name if self._counts_exact else "",
            created_at=None,
            cached_prompt_tokens=self._cached_prompt_tokens,
            cost_pico_usd=self._cost_pico,
            served=self._served,
            steps=self._steps,
        )
        if finish_reason == AWAITING_APPROVAL and self._paused is not None:
            message.run_state = paused_run(self._paused, self._req, self._model_requested, self._provider_requested,
                                           self._protected)
            message.run_expires_at = utcnow() + timedelta(seconds=self._settings.run_approval_seconds)
        return await self._repo.add_message(message)


LEAK_GUARDRAIL = Guardrail("system_prompt_leak", "stopped")


def unsummarised_history(recent: list[Message], summary_through_id: str, question_id: str, limit: int) -> tuple[bool, list[Message]]:
    """Whether the branch read holds the summary's last message, and the messages after it that
    are sent as history (questions and answers with text, none that failed, not the question
    being answered; the newest `limit`). The summary's message is looked for among every message
    read, not only those sent: it may have failed since it was summarised, and is still where
    the summary ends."""
    cut = next((i + 1 for i, m in enumerate(recent) if m.id == summary_through_id), 0) if summary_through_id else 0
    history = [m for m in recent[cut:]
               if m.id != question_id and m.role in ("user", "assistant") and m.content and m.finish_reason != FINISH_ERROR]
    return cut > 0, history[-limit:]


async def guarded(stream: AsyncIterator, guard: LeakGuard, parts: list[str], model: Callable[[], str]) -> AsyncIterator:
    """A model's or an agent run's stream past the system-prompt leak guard, for a chat turn and a
    resumed run alike. Its text is released as Token events as it proves safe (the rest with the
    end), each also appended to `parts`; each delta is passed on too (before its text), as is
    every other item; the end (LlmEnd, RunEnd) comes last. A reply that discloses the prompt:
    LEAK_GUARDRAIL, then the CONTENT_BLOCKED error (`model`: the model serving, for the log). A
    stream that stops without an end: LLM_PROVIDER_ERROR."""
    index = 0
    async for item in stream:
        if isinstance(item, LlmDelta):
            yield item  # for the caller's timings: its text follows once it proves safe
            text = guard.feed(item.text)
        elif isinstance(item, LlmEnd):
            text = guard.flush()
        else:
            yield item
            continue
        if guard.leaked:
            yield LEAK_GUARDRAIL
            raise leak_stopped(model())
        if text:
            parts.append(text)
            yield Token(text, index)
            index += 1
        if isinstance(item, LlmEnd):
            yield item
            return
    raise AppError(ErrorCode.LLM_PROVIDER_ERROR, "the model stream ended without a result")


def leak_stopped(model: str) -> AppError:
    """The error that ends a reply the leak guard stopped (after LEAK_GUARDRAIL)."""
    log.warning("reply stopped: it disclosed the system prompt", extra={"model": model})
    return AppError(ErrorCode.CONTENT_BLOCKED, LEAK_STOPPED)


def paused_run(paused: RunPaused, req: TurnRequest, model: str, provider: str, protected: tuple[str, str]) -> dict:
    """What resuming a paused run needs, stored with its answer: the orchestrator's state (opaque),
    the calls waiting, the turn's model, settings and tools, and what the turn's leak guard
    protects (its canary and system prompt: the run's answer goes on past the same guard)."""
    return {
        "state": base64.b64encode(paused.state).decode(), "model": model, "provider": provider, "temperature": req.temperature,
        "max_tokens": req.max_tokens, "tools": list(req.tools), "guard": {"canary": protected[0], "prompt": protected[1]},
        "calls": [{"call_id": c.call_id, "name": c.name, "arguments": c.arguments, "step": c.step} for c in paused.calls],
    }


async def _nothing() -> list[Message]:
    return []


async def _no_memory() -> MemoryState:
    return MemoryState(False, False, [])
