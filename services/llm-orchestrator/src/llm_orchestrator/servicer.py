"""gRPC surface of the orchestrator: maps proto <-> router objects. A domain error raised here
becomes its status through the interceptor every server has (chatbot_common.grpc_errors).
Requests are trusted as llm.proto describes: the gateway validates what partners send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from chatbot.common.v1 import common_pb2
from chatbot.llm.v1 import llm_pb2, llm_pb2_grpc
from prometheus_client import Counter

from chatbot_common.errors import PROVIDER_ERRORS, AppError, ErrorCode
from chatbot_common.generation import ModelSelected
from chatbot_common.guardrails.redaction import Redactor, StreamRedactor
from chatbot_common.guardrails.spotlight import unmark
from chatbot_common.streams import join_text, read_ahead
from chatbot_common.text import valid_text
from chatbot_common.tokens import ByteEstimate, TokenCounter
from llm_orchestrator.providers.base import ChatMessage, Delta, End, GenParams, ProviderError
from llm_orchestrator.router import Router, Target, UnknownModel


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


def _unknown(exc: UnknownModel) -> AppError:
    return AppError(ErrorCode.VALIDATION_ERROR, str(exc), {"field": "model"})


REDACTIONS = Counter("llm_output_redactions_total", "Spans taken out of model output", ["kind"])


def _count_redactions(found) -> None:
    for kind, n in found.items():
        REDACTIONS.labels(kind).inc(n)


class LlmServicer(llm_pb2_grpc.LlmOrchestratorServicer):
    def __init__(self, router: Router, counter: TokenCounter | ByteEstimate | None, redactor: Redactor | None = None,
                 exact_providers: frozenset[str] = frozenset(), stream_interval: float = 0.0) -> None:
        self._router = router
        self._stream_interval = stream_interval
        self._counter = counter or ByteEstimate()
        self._exact_providers = exact_providers  # whose models the counter counts exactly
        self._redactor = redactor  # output filter: PII, secrets, exfiltrating Markdown

    def _exact(self, chain: list[Target]) -> bool:
        return all(t.provider in self._exact_providers for t in chain)

    async def _events(self, request: llm_pb2.GenerateRequest, context) -> AsyncIterator[ModelSelected | Delta | End]:
        messages = [ChatMessage(m.role, m.content) for m in request.messages]
        stream = self._router.generate(request.model, request.provider, messages, _params(request))
        try:
            async with asyncio.timeout(context.time_remaining()):
                async for item in stream:
                    if isinstance(item, Delta) and not item.text.isascii():
                        # A provider's JSON may carry a lone surrogate (Python's reader lets one
                        # through); it could not be sent on, and would end the stream mid-answer.
                        # The datamark of quoted sources becomes a space before the output filter.
                        item = Delta(unmark(valid_text(item.text)))
                    yield item
        except UnknownModel as exc:
            raise _unknown(exc) from None
        except ProviderError as exc:
            raise to_app_error(exc) from None
        finally:
            await stream.aclose()

    async def Generate(self, request: llm_pb2.GenerateRequest, context) -> AsyncIterator[llm_pb2.GenerateResponse]:
        stream = StreamRedactor(self._redactor) if self._redactor else None
        try:
            # Text that arrives while a message is being sent, or within the stream interval after
            # it, goes out as one delta; the first delta and the end never wait.
            async with contextlib.aclosing(read_ahead(self._events(request, context), hold=self._stream_interval)) as batches:
                async for batch in batches:
                    for item in join_text(batch, Delta):
                        if isinstance(item, Delta):
                            text = stream.feed(item.text) if stream else item.text
                            if text:
                                yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=text))
                        elif isinstance(item, ModelSelected):
                            yield llm_pb2.GenerateResponse(start=common_pb2.ModelSelected(provider=item.provider, model=item.model))
                        else:
                            if stream and (tail := stream.flush()):
                                yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=tail))
                            yield llm_pb2.GenerateResponse(end=llm_pb2.StreamEnd(finish_reason=item.finish_reason, usage=_usage(item)))
        except AppError:
            # The provider broke off: what the output filter was holding back goes out (filtered)
            # before the error, so that the partial answer is all the provider sent.
            if stream and (tail := stream.flush()):
                yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=tail))
            raise
        finally:
            if stream:
                _count_redactions(stream.found)

    async def Complete(self, request: llm_pb2.GenerateRequest, context) -> llm_pb2.CompleteResponse:
        reply = llm_pb2.CompleteResponse()
        parts: list[str] = []
        async for item in self._events(request, context):
            if isinstance(item, Delta):
                parts.append(item.text)
            elif isinstance(item, ModelSelected):
                reply.provider, reply.model = item.provider, item.model
            else:
                reply.finish_reason = item.finish_reason
                reply.usage.CopyFrom(_usage(item))
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
                    tokenizer=self._counter.name if self._exact(chain) else "",
                )
            )
        return reply

    async def CountTokens(self, request: llm_pb2.CountTokensRequest, context) -> llm_pb2.CountTokensResponse:
        try:
            chain = self._router.resolve(request.model)
        except UnknownModel as exc:
            raise _unknown(exc) from None
        counts = await asyncio.to_thread(self._counter.count, list(request.texts))
        return llm_pb2.CountTokensResponse(counts=counts, tokenizer=self._counter.name, exact=self._exact(chain))


def _usage(end: End) -> common_pb2.Usage:
    u = end.usage
    return common_pb2.Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens, total_tokens=u.total_tokens)
