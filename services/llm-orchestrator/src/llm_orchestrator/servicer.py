"""gRPC surface of the orchestrator: maps proto <-> router objects and errors <-> statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from chatbot.common.v1 import common_pb2
from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc
from prometheus_client import Counter

from chatbot_common.errors import PROVIDER_ERRORS, AppError, ErrorCode, abort
from chatbot_common.text import valid_text
from chatbot_common.guardrails.redaction import Redactor, StreamRedactor
from chatbot_common.guardrails.spotlight import unmark
from llm_orchestrator.providers.base import ChatMessage, Delta, End, GenParams, ProviderError
from llm_orchestrator.router import Router, Started, UnknownModel
from llm_orchestrator.tokens import TokenCounter

_ROLES = {"system", "user", "assistant"}


def to_app_error(exc: ProviderError) -> AppError:
    return AppError(PROVIDER_ERRORS[exc.kind], exc.message, {"provider_error": exc.kind.value})


def _params(request: llm_pb2.GenerateRequest) -> GenParams:
    p = request.params
    return GenParams(
        temperature=p.temperature if p.HasField("temperature") else None,
        max_tokens=p.max_tokens if p.HasField("max_tokens") else None,
        top_p=p.top_p if p.HasField("top_p") else None,
        stop=tuple(p.stop),
        seed=p.seed if p.HasField("seed") else None,
    )


def _validate(request: llm_pb2.GenerateRequest) -> list[ChatMessage]:
    if not request.messages:
        raise AppError(ErrorCode.VALIDATION_ERROR, "messages must not be empty")
    bad = [m.role for m in request.messages if m.role not in _ROLES]
    if bad:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"unknown role {bad[0]!r}", {"allowed": sorted(_ROLES)})
    p = request.params
    if p.HasField("temperature") and not 0.0 <= p.temperature <= 2.0:
        raise AppError(ErrorCode.VALIDATION_ERROR, "temperature must be between 0 and 2")
    if p.HasField("max_tokens") and p.max_tokens < 1:
        raise AppError(ErrorCode.VALIDATION_ERROR, "max_tokens must be at least 1")
    return [ChatMessage(m.role, m.content) for m in request.messages]


REDACTIONS = Counter("llm_output_redactions_total", "Spans taken out of model output", ["kind"])


def _count_redactions(found) -> None:
    for kind, n in found.items():
        REDACTIONS.labels(kind).inc(n)


class LlmServicer(llm_pb2_grpc.LlmOrchestratorServicer):
    def __init__(self, router: Router, counter: TokenCounter | None, redactor: Redactor | None = None) -> None:
        self._router = router
        self._counter = counter
        self._redactor = redactor  # output filter: PII, secrets, exfiltrating Markdown

    async def _events(self, request: llm_pb2.GenerateRequest, context) -> AsyncIterator[Started | Delta | End]:
        messages = _validate(request)
        remaining = context.time_remaining()
        stream = self._router.generate(request.model, request.provider, messages, _params(request))
        try:
            async with asyncio.timeout(remaining):
                async for item in stream:
                    if isinstance(item, Delta) and not item.text.isascii():
                        # A provider's JSON may carry a lone surrogate (Python's reader lets one
                        # through); it could not be sent on, and would end the stream mid-answer.
                        # The datamark of quoted sources becomes a space before the output filter.
                        item = Delta(unmark(valid_text(item.text)))
                    yield item
        except UnknownModel as exc:
            raise AppError(ErrorCode.VALIDATION_ERROR, str(exc), {"field": "model"}) from None
        except ProviderError as exc:
            raise to_app_error(exc) from None
        finally:
            await stream.aclose()

    async def Generate(self, request: llm_pb2.GenerateRequest, context) -> AsyncIterator[llm_pb2.GenerateResponse]:
        stream = StreamRedactor(self._redactor) if self._redactor else None
        try:
            async for item in self._events(request, context):
                if isinstance(item, Delta):
                    text = stream.feed(item.text) if stream else item.text
                    if text:
                        yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=text))
                elif isinstance(item, Started):
                    yield llm_pb2.GenerateResponse(start=llm_pb2.StreamStart(provider=item.provider, model=item.model))
                else:
                    if stream and (tail := stream.flush()):
                        yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=tail))
                    yield llm_pb2.GenerateResponse(end=llm_pb2.StreamEnd(finish_reason=item.finish_reason, usage=_usage(item)))
        except AppError as exc:
            await abort(context, exc)
        finally:
            if stream:
                _count_redactions(stream.found)

    async def Complete(self, request: llm_pb2.GenerateRequest, context) -> llm_pb2.CompleteResponse:
        reply = llm_pb2.CompleteResponse()
        parts: list[str] = []
        try:
            async for item in self._events(request, context):
                if isinstance(item, Delta):
                    parts.append(item.text)
                elif isinstance(item, Started):
                    reply.provider, reply.model = item.provider, item.model
                else:
                    reply.finish_reason = item.finish_reason
                    reply.usage.CopyFrom(_usage(item))
        except AppError as exc:
            await abort(context, exc)
        reply.text = "".join(parts)
        if self._redactor:
            reply.text, found = self._redactor.redact(reply.text)
            _count_redactions(found)
        return reply

    async def ListModels(self, request: llm_pb2.ListModelsRequest, context) -> llm_pb2.ListModelsResponse:
        reply = llm_pb2.ListModelsResponse(default_model=self._router.default_model)
        for model_id, chain, is_alias in self._router.catalogue():
            first = chain[0]
            reply.models.append(
                llm_pb2.ModelInfo(
                    id=model_id,
                    chain=[str(t) for t in chain],
                    provider="" if is_alias else first.provider,
                    # A chain is only as roomy as its smallest member, since any may answer.
                    context_window=min(self._router.spec(t).context_window for t in chain),
                    is_alias=is_alias,
                    available=self._router.available(chain),
                )
            )
        return reply

    async def CountTokens(self, request: llm_pb2.CountTokensRequest, context) -> llm_pb2.CountTokensResponse:
        if self._counter is None:
            # No tokenizer here at all: a conservative bytes-based estimate.
            return llm_pb2.CountTokensResponse(counts=[len(t.encode()) // 3 + 1 for t in request.texts], tokenizer="bytes/3", exact=False)
        try:
            chain = self._router.resolve(request.model)
        except UnknownModel as exc:
            await abort(context, AppError(ErrorCode.VALIDATION_ERROR, str(exc), {"field": "model"}))
            return llm_pb2.CountTokensResponse()
        counts = await asyncio.to_thread(self._counter.count, list(request.texts))
        exact = all(self._counter.is_exact(t.provider) for t in chain)
        return llm_pb2.CountTokensResponse(counts=counts, tokenizer=self._counter.name, exact=exact)


def _usage(end: End) -> common_pb2.Usage:
    u = end.usage
    return common_pb2.Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens, total_tokens=u.total_tokens)
