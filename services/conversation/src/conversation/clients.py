"""The llm-orchestrator over gRPC, behind the LlmClient protocol the turn uses."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc

from chatbot.common.v1 import common_pb2
from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc
from chatbot.rag.v1 import rag_pb2, rag_pb2_grpc
from chatbot_common.errors import AppError, ErrorCode, from_rpc_error
from conversation.grounding import Passage, SearchResult
from conversation.llm import GenerateOptions, LlmDelta, LlmEnd, LlmStart, TokenCounts


class GrpcLlmClient:
    def __init__(self, channel: grpc.aio.Channel, call_timeout: float, generate_timeout: float, catalogue_ttl: float = 30.0) -> None:
        self._stub = llm_pb2_grpc.LlmOrchestratorStub(channel)
        self._call_timeout = call_timeout
        self._generate_timeout = generate_timeout
        self._catalogue_ttl = catalogue_ttl
        self._catalogue: llm_pb2.ListModelsResponse | None = None
        self._catalogue_at = 0.0

    async def _models(self) -> llm_pb2.ListModelsResponse:
        if self._catalogue is None or time.monotonic() - self._catalogue_at > self._catalogue_ttl:
            try:
                self._catalogue = await self._stub.ListModels(llm_pb2.ListModelsRequest(), timeout=self._call_timeout)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc, "llm-orchestrator") from None
            self._catalogue_at = time.monotonic()
        return self._catalogue

    async def context_window(self, model: str, provider: str) -> int:
        catalogue = await self._models()
        name = model or catalogue.default_model
        # The orchestrator accepts "provider/model" as well as "provider:model".
        spellings = {name, name.replace("/", ":", 1)}
        matches = [m for m in catalogue.models if m.id in spellings or (not m.is_alias and m.id.split(":", 1)[1] == name)]
        if provider:
            matches = [m for m in matches if m.is_alias or m.provider == provider] or [
                m for m in catalogue.models if not m.is_alias and m.provider == provider
            ]
        if not matches:
            raise AppError(ErrorCode.VALIDATION_ERROR, f"unknown model {name!r}", {"field": "model"})
        return min(m.context_window for m in matches)

    async def count_tokens(self, model: str, texts: list[str]) -> TokenCounts:
        try:
            reply = await self._stub.CountTokens(llm_pb2.CountTokensRequest(model=model, texts=texts), timeout=self._call_timeout)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, "llm-orchestrator") from None
        return TokenCounts(list(reply.counts), reply.tokenizer, reply.exact)

    async def generate(self, messages: list[tuple[str, str]], options: GenerateOptions) -> AsyncIterator[LlmStart | LlmDelta | LlmEnd]:
        params = llm_pb2.GenerationParams()
        if options.temperature is not None:
            params.temperature = options.temperature
        if options.max_tokens is not None:
            params.max_tokens = options.max_tokens
        request = llm_pb2.GenerateRequest(
            model=options.model,
            provider=options.provider,
            messages=[llm_pb2.ChatMessage(role=r, content=c) for r, c in messages],
            params=params,
            request_id=options.request_id,
            caller=common_pb2.Caller(user_id=options.user_id),
        )
        call = self._stub.Generate(request, timeout=self._generate_timeout)
        try:
            async for reply in call:
                kind = reply.WhichOneof("event")
                if kind == "delta":
                    yield LlmDelta(reply.delta.text)
                elif kind == "start":
                    yield LlmStart(reply.start.provider, reply.start.model)
                elif kind == "end":
                    u = reply.end.usage
                    yield LlmEnd(reply.end.finish_reason, u.prompt_tokens, u.completion_tokens)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, "llm-orchestrator") from None
        finally:
            # Closing early (the client left) must stop generation upstream too.
            call.cancel()


class GrpcRagClient:
    """The rag service's Search, behind the SourceSearch protocol the turn uses."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = rag_pb2_grpc.RagServiceStub(channel)
        self._timeout = timeout

    async def search(self, user_id: str, tenant_id: str, query: str, top_k: int) -> SearchResult:
        try:
            reply = await self._stub.Search(rag_pb2.SearchRequest(
                caller=common_pb2.Caller(user_id=user_id, tenant_id=tenant_id), query=query[:4000], top_k=top_k,
            ), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, "rag") from None
        return SearchResult(
            passages=[Passage(h.chunk.document_id, h.chunk.chunk_id, h.chunk.title, h.chunk.section, h.chunk.page,
                              h.chunk.text, h.snippet, h.score) for h in reply.hits],
            searchable_documents=reply.searchable_documents,
        )
