"""gRPC surface of the conversation service: proto <-> domain, nothing else. A domain error
raised here becomes its status through the interceptor every server has
(chatbot_common.grpc_errors); requests are trusted as conversation.proto describes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import date, timedelta
from collections.abc import AsyncIterator

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot_common import tracing
from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.paging import page_from_pb, page_info
from chatbot_common.timeutil import from_timestamp, to_timestamp
from conversation.agent import AWAITING_APPROVAL, AgentClient, ApprovalPending, Spent, ToolCallEvent, ToolResultEvent
from conversation.llm import LlmClient
from conversation.memory_store import MemoryStore, TooManyFacts
from conversation.evaluation_store import SCORES as EVALUATION_SCORES, EvaluationFilters, EvaluationStore
from conversation.online_evaluation import OnlineEvaluation
from conversation.models import Conversation, MemoryFact, Message, MessageEvaluation
from conversation.repository import Repository, usage_tally
from conversation.settings import ConversationSettings
from conversation.grounding import SourceSearch
from conversation.summaries import BackgroundWork
from conversation.tokenizers import Counters
from conversation.usage import from_pico, to_pico
from conversation.run_store import RunStore
from conversation.runs import ResumedRun, sweep
from conversation.turn import ChatTurn, Citations, Guardrail, Token, TurnCompleted, TurnRequest, TurnStarted
from conversation.writes import ShieldedWrites

log = logging.getLogger(__name__)
# A usage ledger kind (UsageRow.kind): chat, summary, title, or another short word.
_KIND = re.compile(r"[a-z_]{1,16}")


def conversation_to_pb(c: Conversation) -> pb.Conversation:
    conv = pb.Conversation(
        id=c.id, user_id=c.user_id, title=c.title, model=c.model, provider=c.provider, system_prompt=c.system_prompt,
        message_count=c.message_count, created_at=to_timestamp(c.created_at), updated_at=to_timestamp(c.updated_at),
        current_message_id=c.current_message_id or "", pinned=c.pinned_at is not None, archived=c.archived_at is not None,
        title_source=c.title_source or "",
    )
    if c.summary:
        conv.summary.CopyFrom(pb.ConversationSummary(
            text=c.summary, through_message_id=c.summary_through_id, messages=c.summary_messages, model=c.summary_model,
            updated_at=to_timestamp(c.summary_updated_at)))
    return conv


def fact_to_pb(f: MemoryFact) -> pb.MemoryFact:
    return pb.MemoryFact(id=f.id, content=f.content, source=f.source, conversation_id=f.conversation_id,
                         created_at=to_timestamp(f.created_at), updated_at=to_timestamp(f.updated_at))


def usage_pb(m: Message) -> common_pb2.Usage:
    return common_pb2.Usage(prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens, total_tokens=m.prompt_tokens + m.completion_tokens,
                            cached_prompt_tokens=m.cached_prompt_tokens or 0, cost=from_pico(m.cost_pico_usd))


def served_pb(served: dict | None) -> common_pb2.Served:
    served = served or {}
    reply = common_pb2.Served(cached=bool(served.get("cached")), saved_cost=served.get("saved_cost", ""))
    if route := served.get("route"):
        reply.route.CopyFrom(common_pb2.RouteChoice(**route))
    return reply



def message_to_pb(m: Message) -> pb.Message:
    message = pb.Message(
        id=m.id, conversation_id=m.conversation_id, role=m.role, content=m.content, model=m.model, provider=m.provider,
        finish_reason=m.finish_reason, usage=usage_pb(m), latency_ms=m.latency_ms, ttft_ms=m.ttft_ms,
        error_code=m.error_code, error_message=m.error_message,
        citations=[common_pb2.Citation(**c) for c in (m.citations or [])], created_at=to_timestamp(m.created_at),
        parent_id=m.parent_id or "", served=served_pb(m.served),
    )
    _run_fields(m, message)
    if m.feedback_rating:
        message.feedback.CopyFrom(pb.Feedback(rating=m.feedback_rating, comment=m.feedback_comment, at=to_timestamp(m.feedback_at)))
    return message


def evaluation_to_pb(e: MessageEvaluation, rating: int) -> pb.Evaluation:
    scores = pb.EvaluationScores(**{name: getattr(e, name) for name in EVALUATION_SCORES if getattr(e, name) is not None})
    return pb.Evaluation(
        message_id=e.message_id, conversation_id=e.conversation_id, user_id=e.user_id, model=e.model, provider=e.provider,
        scores=scores, judge_model=e.judge_model, status=e.status, error=e.error, rating=rating, claims=e.claims,
        supported_claims=e.supported_claims, evaluated_at=to_timestamp(e.evaluated_at), answered_at=to_timestamp(e.answered_at))


def _user(caller: common_pb2.Caller) -> str:
    if not caller.user_id:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller identity missing")
    return caller.user_id


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"{field} must be a day as YYYY-MM-DD", {"field": field}) from None


def _not_found() -> AppError:
    return AppError(ErrorCode.NOT_FOUND, "conversation not found")


def tool_call_pb(c: ToolCallEvent) -> pb.ToolCallEvent:
    return pb.ToolCallEvent(call_id=c.call_id, name=c.name, arguments=c.arguments, step=c.step, needs_approval=c.needs_approval)


def _run_fields(m: Message, message: pb.Message) -> None:
    """An agent run's steps, and while it waits for a person, the calls (redacted by the
    orchestrator) and the window; a card whose window has passed is no longer served."""
    if m.steps:
        message.steps = json.dumps(m.steps)
    if m.finish_reason == AWAITING_APPROVAL and m.run_state and m.run_expires_at is not None and m.run_expires_at > utcnow():
        message.pending_approval.CopyFrom(pb.PendingApproval(
            calls=[pb.ToolCallEvent(call_id=c["call_id"], name=c["name"], arguments=c["arguments"], step=c.get("step", 0),
                                    needs_approval=True) for c in m.run_state.get("calls", [])],
            expires_at=to_timestamp(m.run_expires_at)))


class ConversationServicer(conversation_pb2_grpc.ConversationServiceServicer):
    # Agent runs (set by the server): the orchestrator's loop and the paused runs' storage.
    agent: AgentClient | None = None
    runs: RunStore | None = None

    def __init__(
        self, repo: Repository, llm: LlmClient, counters: Counters, settings: ConversationSettings,
        sources: SourceSearch | None = None, memory: MemoryStore | None = None, background: BackgroundWork | None = None,
        evaluations: OnlineEvaluation | None = None,
    ) -> None:
        self._evaluations = evaluations
        self._repo = repo
        self._llm = llm
        self._counters = counters
        self._memory = memory
        self._background = background
        self._sources = sources
        self._settings = settings
        # The answers' writes, which outlive their requests: the service's shutdown waits for them.
        self.writes = ShieldedWrites()

    async def CreateConversation(self, request: pb.CreateConversationRequest, context) -> pb.Conversation:
        conv = await self._repo.create_conversation(
            _user(request.caller), request.caller.tenant_id, request.title[:200], request.model, request.provider, request.system_prompt
        )
        return conversation_to_pb(conv)

    async def GetConversation(self, request: pb.GetConversationRequest, context) -> pb.Conversation:
        conv = await self._repo.get_conversation(request.conversation_id, _user(request.caller))
        if conv is None:
            raise _not_found()
        return conversation_to_pb(conv)

    async def ListConversations(self, request: pb.ListConversationsRequest, context) -> pb.ListConversationsResponse:
        sort = request.sort or "updated"
        order = request.order or "desc"
        archived = request.archived or "exclude"
        if sort not in ("created", "updated") or order not in ("asc", "desc"):
            raise AppError(ErrorCode.VALIDATION_ERROR, "sort must be created|updated and order asc|desc")
        if archived not in ("exclude", "include", "only"):
            raise AppError(ErrorCode.VALIDATION_ERROR, "archived must be exclude|include|only", {"field": "archived"})
        page = page_from_pb(request.page, 20)
        rows, total = await self._repo.list_conversations(_user(request.caller), page, sort, order, request.query, archived)
        return pb.ListConversationsResponse(conversations=[conversation_to_pb(c) for c in rows], page=page_info(page, total))

    async def DeleteConversation(self, request: pb.DeleteConversationRequest, context) -> pb.DeleteConversationResponse:
        if not await self._repo.delete_conversation(request.conversation_id, _user(request.caller)):
            raise _not_found()
        return pb.DeleteConversationResponse()

    async def UpdateConversation(self, request: pb.UpdateConversationRequest, context) -> pb.Conversation:
        user = _user(request.caller)
        conv = await self._repo.get_conversation(request.conversation_id, user)
        if conv is None:
            raise _not_found()
        if request.HasField("current_message_id"):
            conv = await self._repo.show_branch(request.conversation_id, user, request.current_message_id)
            if conv is None:
                raise AppError(ErrorCode.NOT_FOUND, "message not found in this conversation")
        if request.HasField("title"):
            conv = await self._repo.rename_conversation(request.conversation_id, user, request.title) or conv
        if request.HasField("pinned") or request.HasField("archived"):
            conv = await self._repo.set_flags(request.conversation_id, user, request.pinned if request.HasField("pinned") else None,
                                              request.archived if request.HasField("archived") else None) or conv
        return conversation_to_pb(conv)

    async def SetFeedback(self, request: pb.SetFeedbackRequest, context) -> pb.Message:
        message = await self._repo.set_feedback(request.conversation_id, _user(request.caller), request.message_id, request.rating,
                                                request.comment)
        if message is None:
            raise AppError(ErrorCode.NOT_FOUND, "answer not found")
        return message_to_pb(message)

    async def ListMessages(self, request: pb.ListMessagesRequest, context) -> pb.ListMessagesResponse:
        conv = await self._repo.get_conversation(request.conversation_id, _user(request.caller))
        if conv is None:
            raise _not_found()
        if self.runs is not None:  # a run whose resumer never came back is shown as ended, not 'resuming'
            await sweep(self.runs, conversation_id=conv.id)
        page = page_from_pb(request.page, 50)
        if request.current_branch:
            rows, total = await self._repo.branch_page(conv.id, conv.current_message_id, page)
        else:
            rows, total = await self._repo.list_messages(request.conversation_id, page)
        return pb.ListMessagesResponse(messages=[message_to_pb(m) for m in rows], page=page_info(page, total))

    async def ExportUserData(self, request: pb.UserDataRequest, context) -> AsyncIterator[pb.UserConversation]:
        async for conv, messages in self._repo.user_conversations(_user(request.caller)):
            yield pb.UserConversation(conversation=conversation_to_pb(conv), messages=[message_to_pb(m) for m in messages])

    async def EraseUserData(self, request: pb.UserDataRequest, context) -> pb.EraseUserDataResponse:
        user = _user(request.caller)
        conversations, messages, usage = await self._repo.erase_user(user)
        facts = await self._memory.erase_user(user) if self._memory is not None else 0
        log.info("user data erased", extra={"conversations": conversations, "messages": messages, "usage_records_anonymised": usage,
                                            "memory_facts": facts})
        return pb.EraseUserDataResponse(conversations=conversations, messages=messages, usage_records_anonymised=usage,
                                        memory_facts=facts)

    async def TenantUsage(self, request: pb.TenantUsageRequest, context) -> pb.TenantUsageResponse:
        return await self._usage(request, None)

    async def UserUsage(self, request: pb.TenantUsageRequest, context) -> pb.TenantUsageResponse:
        return await self._usage(request, _user(request.caller))

    async def _usage(self, request: pb.TenantUsageRequest, user_id: str | None) -> pb.TenantUsageResponse:
        if not request.caller.tenant_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller tenant missing")
        since, until = _day(request.since, "since"), _day(request.until, "until")
        if until < since:
            raise AppError(ErrorCode.VALIDATION_ERROR, "until is before since", {"field": "until"})
        rows = await self._repo.tenant_usage(request.caller.tenant_id, since, until, user_id)
        return pb.TenantUsageResponse(rows=[
            pb.UsageRow(day=day.isoformat(), provider=provider, model=model, turns=a["turns"], prompt_tokens=a["prompt_tokens"],
                        completion_tokens=a["completion_tokens"], cached_prompt_tokens=a["cached_prompt_tokens"],
                        cost=from_pico(a["cost_pico_usd"]), unpriced_turns=a["unpriced_turns"], cache_hits=a["cache_hits"], kind=kind)
            for day, provider, model, a, kind in rows
        ])

    async def RecordUsage(self, request: pb.RecordUsageRequest, context) -> pb.RecordUsageResponse:
        if not request.caller.tenant_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller tenant missing")
        kind = request.kind or "chat"
        if not _KIND.fullmatch(kind):
            raise AppError(ErrorCode.VALIDATION_ERROR, "kind is a short lower-case word", {"field": "kind"})
        u = request.usage
        tally = usage_tally(u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens, to_pico(u.cost), request.served.cached)
        await self._repo.record_usage(request.caller.tenant_id, _user(request.caller), request.provider, request.model, tally, kind)
        return pb.RecordUsageResponse()

    async def PurgeMessages(self, request: pb.PurgeMessagesRequest, context) -> pb.PurgeMessagesResponse:
        if not request.older_than_seconds > 0:
            raise AppError(ErrorCode.VALIDATION_ERROR, "older_than_seconds must be positive")
        cutoff = utcnow() - timedelta(seconds=request.older_than_seconds)
        messages, conversations = await self._repo.purge_messages(cutoff)
        log.info("retention purge", extra={"messages": messages, "conversations": conversations})
        return pb.PurgeMessagesResponse(messages=messages, conversations=conversations)

    # --- user memory ----------------------------------------------------------------------

    def _memory_store(self) -> MemoryStore:
        if self._memory is None:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "user memory is not available")
        return self._memory

    async def _memory_reply(self, caller: common_pb2.Caller) -> pb.Memory:
        store = self._memory_store()
        user = _user(caller)
        state, facts = await asyncio.gather(store.state(user, caller.tenant_id, with_facts=False), store.facts(user))
        return pb.Memory(enabled=state.enabled, tenant_allowed=state.tenant_allowed, facts=[fact_to_pb(f) for f in facts])

    async def GetMemory(self, request: pb.GetMemoryRequest, context) -> pb.Memory:
        return await self._memory_reply(request.caller)

    async def UpdateMemorySettings(self, request: pb.UpdateMemorySettingsRequest, context) -> pb.Memory:
        store = self._memory_store()
        if request.enabled and not await store.tenant_allows(request.caller.tenant_id):
            raise AppError(ErrorCode.PERMISSION_DENIED, "your organisation has turned user memory off")
        await store.set_enabled(_user(request.caller), request.enabled)
        return await self._memory_reply(request.caller)

    async def AddMemoryFact(self, request: pb.AddMemoryFactRequest, context) -> pb.MemoryFact:
        store = self._memory_store()
        if not await store.tenant_allows(request.caller.tenant_id):
            raise AppError(ErrorCode.PERMISSION_DENIED, "your organisation has turned user memory off")
        try:
            fact = await store.add(_user(request.caller), request.caller.tenant_id, request.content, "api", "", self._settings.memory_max_facts)
        except TooManyFacts:
            raise AppError(ErrorCode.CONFLICT, f"memory is full ({self._settings.memory_max_facts} facts): delete one first",
                           {"max_facts": self._settings.memory_max_facts}) from None
        return fact_to_pb(fact)

    async def UpdateMemoryFact(self, request: pb.UpdateMemoryFactRequest, context) -> pb.MemoryFact:
        fact = await self._memory_store().update(_user(request.caller), request.fact_id, request.content)
        if fact is None:
            raise AppError(ErrorCode.NOT_FOUND, "memory fact not found")
        return fact_to_pb(fact)

    async def DeleteMemoryFact(self, request: pb.DeleteMemoryFactRequest, context) -> pb.DeleteMemoryFactResponse:
        if not await self._memory_store().delete(_user(request.caller), request.fact_id):
            raise AppError(ErrorCode.NOT_FOUND, "memory fact not found")
        return pb.DeleteMemoryFactResponse()

    async def SetTenantMemoryPolicy(self, request: pb.TenantMemoryPolicy, context) -> pb.TenantMemoryPolicy:
        if not request.caller.tenant_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller tenant missing")
        await self._memory_store().set_tenant_policy(request.caller.tenant_id, request.user_memory_allowed)
        return pb.TenantMemoryPolicy(user_memory_allowed=request.user_memory_allowed)

    async def GetTenantMemoryPolicy(self, request: pb.GetTenantMemoryPolicyRequest, context) -> pb.TenantMemoryPolicy:
        if not request.caller.tenant_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller tenant missing")
        return pb.TenantMemoryPolicy(user_memory_allowed=await self._memory_store().tenant_allows(request.caller.tenant_id))

    def _evaluation_store(self) -> EvaluationStore:
        if self._evaluations is None:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "online evaluation is not available")
        return self._evaluations.store

    async def GetTenantEvaluationPolicy(self, request: pb.GetTenantEvaluationPolicyRequest, context) -> pb.TenantEvaluationPolicy:
        if not request.caller.tenant_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller tenant missing")
        return pb.TenantEvaluationPolicy(share=await self._evaluation_store().share(request.caller.tenant_id))

    async def SetTenantEvaluationPolicy(self, request: pb.TenantEvaluationPolicy, context) -> pb.TenantEvaluationPolicy:
        if not request.caller.tenant_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller tenant missing")
        if not 0 <= request.share <= 1:
            raise AppError(ErrorCode.VALIDATION_ERROR, "share must be within 0..1", {"field": "share"})
        await self._evaluation_store().set_share(request.caller.tenant_id, request.share)
        return pb.TenantEvaluationPolicy(share=request.share)

    async def GetEvaluationInput(self, request: pb.GetEvaluationInputRequest, context) -> pb.EvaluationInput:
        found = await self._evaluation_store().evaluation_input(request.message_id)
        if found is None:
            raise AppError(ErrorCode.NOT_FOUND, "answer not found")
        m = found.answer
        return pb.EvaluationInput(
            message_id=m.id, conversation_id=m.conversation_id, user_id=found.conversation.user_id,
            tenant_id=found.conversation.tenant_id, question=found.question, answer=m.content, model=m.model, provider=m.provider,
            finish_reason=m.finish_reason, citations=[common_pb2.Citation(**c) for c in (m.citations or [])])

    async def RecordEvaluation(self, request: pb.RecordEvaluationRequest, context) -> pb.RecordEvaluationResponse:
        if request.status not in ("done", "failed"):
            raise AppError(ErrorCode.VALIDATION_ERROR, "status must be done or failed", {"field": "status"})
        values = {name: getattr(request.scores, name) if request.scores.HasField(name) else None for name in EVALUATION_SCORES}
        values.update(status=request.status, error=request.error[:200], judge_model=request.judge_model[:200],
                      claims=request.claims, supported_claims=request.supported_claims)
        return pb.RecordEvaluationResponse(recorded=await self._evaluation_store().record(request.message_id, values))

    async def ListEvaluations(self, request: pb.ListEvaluationsRequest, context) -> pb.ListEvaluationsResponse:
        if not request.caller.tenant_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller tenant missing")
        if request.rating not in ("", "up", "down", "none") or request.status not in ("", "done", "failed"):
            raise AppError(ErrorCode.VALIDATION_ERROR, "rating is up, down or none; status done or failed")
        page = page_from_pb(request.page, 50)
        filters = EvaluationFilters(
            model=request.model, rating=request.rating, status=request.status,
            since=from_timestamp(request.since) if request.HasField("since") else None,
            until=from_timestamp(request.until) if request.HasField("until") else None,
            max_faithfulness=request.max_faithfulness if request.HasField("max_faithfulness") else None)
        rows, total = await self._evaluation_store().list(request.caller.tenant_id, page, filters)
        return pb.ListEvaluationsResponse(evaluations=[evaluation_to_pb(e, rating) for e, rating in rows], page=page_info(page, total))

    async def Chat(self, request: pb.ChatRequest, context) -> AsyncIterator[pb.ChatEvent]:
        turn_request = TurnRequest(
            user_id=_user(request.caller),
            tenant_id=request.caller.tenant_id,
            message=request.message,
            conversation_id=request.conversation_id,
            model=request.model,
            provider=request.provider,
            temperature=request.temperature if request.HasField("temperature") else None,
            max_tokens=request.max_tokens if request.HasField("max_tokens") else None,
            request_id=request.request_id,
            system_prompt=request.system_prompt,
            use_rag=request.use_rag if request.HasField("use_rag") else None,
            injection_policy=request.injection_policy or "block",
            edit_message_id=request.edit_message_id,
            regenerate_message_id=request.regenerate_message_id,
            cache=request.cache if request.HasField("cache") else True,
            quality=request.quality,
            budget_left=request.budget_left if request.HasField("budget_left") else None,
            tools=tuple(request.tools), roles=tuple(request.caller.roles),
        )
        turn = ChatTurn(self._repo, self._llm, self._counters, self._settings, turn_request, self._sources, self._memory,
                        self._background, self.agent, evaluations=self._evaluations, writes=self.writes)
        async for reply in self._stream(turn, turn.run()):
            yield reply

    async def ResumeRun(self, request: pb.ResumeRunRequest, context) -> AsyncIterator[pb.ChatEvent]:
        if self.agent is None or self.runs is None:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "agent runs are not configured")
        resumed = ResumedRun(self.runs, self.agent, self._settings, _user(request.caller), request.caller.tenant_id,
                             tuple(request.caller.roles), request.run_id,
                             tuple((d.call_id, d.action, d.arguments) for d in request.decisions), request.request_id,
                             counters=self._counters, llm=self._llm, writes=self.writes)
        async for reply in self._stream(resumed, resumed.run()):
            yield reply

    async def _stream(self, turn: ChatTurn | ResumedRun, events) -> AsyncIterator[pb.ChatEvent]:
        ended = False  # the turn ended by itself (done, or its error, which it recorded)
        try:
            async for event in events:
                if isinstance(event, TurnStarted) and tracing.enabled():
                    from opentelemetry import trace

                    trace.get_current_span().set_attribute("gen_ai.conversation.id", event.conversation_id)
                yield _event_to_pb(event)
            ended = True
        except Exception:
            ended = True
            raise
        finally:
            if ended:
                await events.aclose()
            else:
                # The caller went away (or the service is stopping): cancelled inside the turn, or
                # while gRPC was writing an event (the generator is then closed, GeneratorExit at the
                # yield). Stop upstream generation, then keep the partial answer, as a write of its own
                # (the shutdown waits for it; a turn that recorded already writes nothing more).
                await self.writes.run(_interrupted(events, turn), "interrupted")


async def _interrupted(events, turn: ChatTurn | ResumedRun) -> None:
    await events.aclose()
    await turn.record_interrupted()


def _event_to_pb(event) -> pb.ChatEvent:
    if isinstance(event, Token):
        return pb.ChatEvent(token=pb.TokenDelta(text=event.text, index=event.index))
    if isinstance(event, TurnStarted):
        return pb.ChatEvent(started=pb.TurnStarted(conversation_id=event.conversation_id, user_message_id=event.user_message_id,
                                                   assistant_message_id=event.assistant_message_id))
    if isinstance(event, Citations):
        return pb.ChatEvent(citations=pb.CitationList(citations=[common_pb2.Citation(**c) for c in event.citations]))
    if isinstance(event, ModelSelected):
        return pb.ChatEvent(model=common_pb2.ModelSelected(provider=event.provider, model=event.model))
    if isinstance(event, TurnCompleted):
        m = event.message
        return pb.ChatEvent(
            completed=pb.TurnCompleted(
                message_id=m.id, conversation_id=m.conversation_id, finish_reason=m.finish_reason, usage=usage_pb(m),
                provider=m.provider, model=m.model, latency_ms=m.latency_ms, ttft_ms=m.ttft_ms, created_at=to_timestamp(m.created_at),
                served=served_pb(m.served),
            )
        )
    if isinstance(event, ToolCallEvent):
        return pb.ChatEvent(tool_call=tool_call_pb(event))
    if isinstance(event, ToolResultEvent):
        return pb.ChatEvent(tool_result=pb.ToolResultEvent(call_id=event.call_id, name=event.name, status=event.status,
                                                           summary=event.summary, step=event.step))
    if isinstance(event, ApprovalPending):
        return pb.ChatEvent(approval_required=pb.ApprovalRequired(run_id=event.run_id, calls=[tool_call_pb(c) for c in event.calls],
                                                                  expires_at=to_timestamp(event.expires_at)))
    if isinstance(event, Spent):
        return pb.ChatEvent(spent=pb.TurnSpent(usage=common_pb2.Usage(
            prompt_tokens=event.prompt_tokens, completion_tokens=event.completion_tokens,
            total_tokens=event.prompt_tokens + event.completion_tokens, cached_prompt_tokens=event.cached_prompt_tokens,
            cost=from_pico(event.cost_pico))))
    if isinstance(event, Guardrail):
        return pb.ChatEvent(guardrail=pb.GuardrailEvent(kind=event.kind, action=event.action, categories=list(event.categories),
                                                        document_id=event.document_id, chunk_id=event.chunk_id))
    raise TypeError(f"unknown event {event!r}")
