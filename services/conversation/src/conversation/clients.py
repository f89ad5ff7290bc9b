"""The llm-orchestrator and the rag service over gRPC, behind the protocols the turn uses.
Their stubs are wrapped (MappedStub): a failed call raises the AppError the peer sent."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import grpc

from chatbot.common.v1 import common_pb2
from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc
from chatbot.rag.v1 import rag_pb2, rag_pb2_grpc
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.grpc_errors import MappedStub
from conversation.agent import Resume, RunEnd, RunFailed, RunItem, RunPaused, StepUsage, ToolCallEvent, ToolResultEvent
from conversation.grounding import Passage, SearchResult
from conversation.llm import Completion, GenerateOptions, LlmDelta, LlmEnd, ModelFacts

# rag.SearchRequest.query: at most 4,000 characters, which callers guarantee (rag.proto).
MAX_QUERY_CHARS = 4000
# A model missing from the cached catalogue may have been configured since: the catalogue is
# fetched again before the model is refused, but not more often than this.
RECHECK_SECONDS = 1.0


class GrpcLlmClient:
    """Generation over gRPC, and the model catalogue cached here (fetched again after
    `catalogue_ttl`, or early for a model it does not list), so a turn asks for neither."""

    def __init__(self, channel: grpc.aio.Channel, call_timeout: float, generate_timeout: float, catalogue_ttl: float = 30.0) -> None:
        self._stub = MappedStub(llm_pb2_grpc.LlmOrchestratorStub(channel), "llm-orchestrator")
        self._call_timeout = call_timeout
        self._generate_timeout = generate_timeout
        self._catalogue_ttl = catalogue_ttl
        self._catalogue: llm_pb2.ListModelsResponse | None = None
        self._catalogue_at = 0.0
        self._fetching = asyncio.Lock()  # concurrent turns share one fetch

    async def _models(self, older_than: float) -> llm_pb2.ListModelsResponse:
        """The catalogue, fetched again if it is older than `older_than` seconds."""
        async with self._fetching:
            if self._catalogue is None or time.monotonic() - self._catalogue_at > older_than:
                self._catalogue = await self._stub.ListModels(llm_pb2.ListModelsRequest(), timeout=self._call_timeout)
                self._catalogue_at = time.monotonic()
            return self._catalogue

    async def model(self, model: str, provider: str) -> ModelFacts:
        matches = _matching(await self._models(self._catalogue_ttl), model, provider)
        if not matches:
            catalogue = await self._models(RECHECK_SECONDS)
            matches = _matching(catalogue, model, provider)
            if not matches:
                raise AppError(ErrorCode.VALIDATION_ERROR, f"unknown model {model or catalogue.default_model!r}", {"field": "model"})
        tokenizers = {m.tokenizer for m in matches}
        targets = tuple(dict.fromkeys(t for m in matches for t in (m.chain if m.is_alias else [m.id])))
        return ModelFacts(min(m.context_window for m in matches), tokenizers.pop() if len(tokenizers) == 1 else "", targets)

    async def complete(self, messages: list[tuple[str, str]], options: GenerateOptions, timeout: float) -> Completion:
        reply = await self._stub.Complete(_generate_request(messages, options), timeout=timeout)
        u = reply.usage
        return Completion(reply.text, reply.provider, reply.model, reply.finish_reason, u.prompt_tokens, u.completion_tokens,
                          u.cached_prompt_tokens, u.cost)

    async def generate(self, messages: list[tuple[str, str]], options: GenerateOptions) -> AsyncIterator[ModelSelected | LlmDelta | LlmEnd]:
        call = self._stub.Generate(_generate_request(messages, options), timeout=self._generate_timeout)
        try:
            async for reply in call:
                kind = reply.WhichOneof("event")
                if kind == "delta":
                    yield LlmDelta(reply.delta.text)
                elif kind == "start":
                    yield ModelSelected(reply.start.provider, reply.start.model)
                elif kind == "end":
                    u = reply.end.usage
                    yield LlmEnd(reply.end.finish_reason, u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens, u.cost,
                                 served_dict(reply.end.served))
        finally:
            # Closing early (the client left) must stop generation upstream too.
            call.cancel()


def served_dict(served: common_pb2.Served) -> dict:
    """How an answer was served, as stored with the message (Message.served)."""
    out: dict = {}
    if served.cached:
        out.update(cached=True, saved_cost=served.saved_cost)
    if served.HasField("route"):
        r = served.route
        out["route"] = {"alias": r.alias, "tier": r.tier, "target": r.target, "reason": r.reason}
    return out


def _generate_request(messages: list[tuple[str, str]], options: GenerateOptions) -> llm_pb2.GenerateRequest:
    params = llm_pb2.GenerationParams()
    if options.temperature is not None:
        params.temperature = options.temperature
    if options.max_tokens is not None:
        params.max_tokens = options.max_tokens
    return llm_pb2.GenerateRequest(
        model=options.model,
        provider=options.provider,
        messages=[llm_pb2.ChatMessage(role=r, content=c) for r, c in messages],
        params=params,
        request_id=options.request_id,
        caller=common_pb2.Caller(user_id=options.user_id, tenant_id=options.tenant_id),
        cacheable=options.cacheable,
        quality=options.quality,
        budget_left=options.budget_left,
    )


def _matching(catalogue: llm_pb2.ListModelsResponse, model: str, provider: str) -> list[llm_pb2.ModelInfo]:
    """The catalogue entries a requested model (and provider) may be served by."""
    name = model or catalogue.default_model
    # The orchestrator accepts "provider/model" as well as "provider:model".
    spellings = {name, name.replace("/", ":", 1)}
    matches = [m for m in catalogue.models if m.id in spellings or (not m.is_alias and m.id.split(":", 1)[1] == name)]
    if provider:
        matches = [m for m in matches if m.is_alias or m.provider == provider] or [
            m for m in catalogue.models if not m.is_alias and m.provider == provider
        ]
    return matches


class GrpcRagClient:
    """The rag service's Search, behind the SourceSearch protocol the turn uses."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = MappedStub(rag_pb2_grpc.RagServiceStub(channel), "rag")
        self._timeout = timeout

    async def search(self, user_id: str, tenant_id: str, query: str, top_k: int) -> SearchResult:
        reply = await self._stub.Search(rag_pb2.SearchRequest(
            caller=common_pb2.Caller(user_id=user_id, tenant_id=tenant_id), query=query[:MAX_QUERY_CHARS], top_k=top_k,
        ), timeout=self._timeout)
        return SearchResult(
            passages=[Passage(h.chunk.document_id, h.chunk.chunk_id, h.chunk.title, h.chunk.section, h.chunk.page,
                              h.chunk.text, h.snippet, h.score) for h in reply.hits],
            searchable_documents=reply.searchable_documents,
        )


class GrpcAgentClient:
    """The orchestrator's agent loop (Run, ListTools) behind the AgentClient protocol."""

    def __init__(self, channel: grpc.aio.Channel, call_timeout: float, run_timeout: float) -> None:
        self._stub = MappedStub(llm_pb2_grpc.LlmOrchestratorStub(channel), "llm-orchestrator")
        self._call_timeout = call_timeout
        self._run_timeout = run_timeout

    async def check_tools(self, names: tuple[str, ...], user_id: str, tenant_id: str, roles: tuple[str, ...]) -> None:
        if list(names) == ["auto"]:
            return
        reply = await self._stub.ListTools(llm_pb2.ListToolsRequest(
            caller=common_pb2.Caller(user_id=user_id, tenant_id=tenant_id, roles=list(roles))), timeout=self._call_timeout)
        available = sorted(t.name for t in reply.tools)
        unknown = sorted(set(names) - set(available))
        if unknown:
            raise AppError(ErrorCode.VALIDATION_ERROR, f"unknown tools: {', '.join(unknown)}",
                           {"field": "tools", "unknown": unknown, "available": available})

    async def run(self, messages: list[tuple[str, str]], options: GenerateOptions, tools: tuple[str, ...], roles: tuple[str, ...],
                  run_id: str, resume: Resume | None = None, protected: str = "") -> AsyncIterator[RunItem]:
        base = _generate_request(messages, options)
        request = llm_pb2.RunRequest(model=base.model, provider=base.provider, messages=base.messages, params=base.params,
                                     request_id=base.request_id, caller=base.caller, tools=list(tools), run_id=run_id,
                                     protected_prompt=protected)
        request.caller.roles.extend(roles)
        if resume is not None:
            request.state = resume.state
            request.decisions.extend(llm_pb2.RunDecision(call_id=c, action=a, arguments=args) for c, a, args in resume.decisions)
        call = self._stub.Run(request, timeout=self._run_timeout)
        try:
            async for reply in call:
                kind = reply.WhichOneof("event")
                if kind == "delta":
                    yield LlmDelta(reply.delta.text)
                elif kind == "tool_call":
                    yield _tool_call(reply.tool_call)
                elif kind == "tool_result":
                    r = reply.tool_result
                    yield ToolResultEvent(r.call_id, r.name, r.status, r.summary, r.step)
                elif kind == "start":
                    yield ModelSelected(reply.start.provider, reply.start.model)
                elif kind == "approval_required":
                    a = reply.approval_required
                    yield RunPaused(tuple(_tool_call(c) for c in a.calls), a.state)
                elif kind == "end":
                    u = reply.end.usage
                    yield RunEnd(reply.end.finish_reason, u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens, u.cost, {},
                                 tuple(json.loads(reply.end.steps or "[]")))
                elif kind == "usage":
                    s, u = reply.usage, reply.usage.usage
                    yield StepUsage(s.step, s.provider, s.model, u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens, u.cost)
                elif kind == "failed":  # the error follows
                    u = reply.failed.usage
                    yield RunFailed(u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens, u.cost,
                                    tuple(json.loads(reply.failed.steps or "[]")))
        finally:
            call.cancel()


def _tool_call(c: llm_pb2.RunToolCall) -> ToolCallEvent:
    return ToolCallEvent(c.id, c.name, c.arguments, c.step, c.needs_approval)
