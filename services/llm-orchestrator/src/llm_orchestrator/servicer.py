"""gRPC surface of the orchestrator: maps proto <-> router objects. A domain error raised here
becomes its status through the interceptor every server has (chatbot_common.grpc_errors).
Requests are trusted as llm.proto describes: the gateway validates what partners send."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import orjson
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
from llm_orchestrator import output_filter
from llm_orchestrator.accounting import CostControl, Plan, Request
from llm_orchestrator.embeddings import Embeddings, UnknownEmbeddingModel
from llm_orchestrator.pricing import TokenUse
from llm_orchestrator.providers.base import ChatMessage, Delta, End, GenParams, ProviderError, ResponseFormat, ToolCall, ToolSpec
from llm_orchestrator.router import Router, Target, UnknownModel
from llm_orchestrator.run_servicer import RunServicer


def to_app_error(exc: ProviderError) -> AppError:
    """A provider's failure as the error table has it, saying whether the caller may try again
    (and when, if the provider said)."""
    error = AppError(PROVIDER_ERRORS[exc.kind], exc.message, {"provider_error": exc.kind.value})
    error.details["retryable"] = error.retryable
    if exc.retry_after is not None and error.retryable:
        error.details["retry_after"] = exc.retry_after
    return error


def _schema(text: str, what: str) -> dict | None:
    """A JSON schema sent as text; the gateway checked it, other callers are told what is wrong."""
    if not text:
        return None
    try:
        schema = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"{what} is not valid JSON", {"field": what}) from None
    if not isinstance(schema, dict):
        raise AppError(ErrorCode.VALIDATION_ERROR, f"{what} must be a JSON object", {"field": what})
    return schema


def _params(request: llm_pb2.GenerateRequest) -> GenParams:
    p = request.params
    tools = tuple(ToolSpec(t.name, t.description, _schema(t.parameters, f"tools.{t.name}.parameters") or {"type": "object", "properties": {}})
                  for t in p.tools)
    fmt = None
    if p.HasField("response_format") and p.response_format.type not in ("", "text"):
        f = p.response_format
        fmt = ResponseFormat(f.type, _schema(f.schema, "response_format.schema"), f.name, f.strict)
    return GenParams(
        temperature=p.temperature if p.HasField("temperature") else None,
        max_tokens=p.max_tokens if p.HasField("max_tokens") else None,
        top_p=p.top_p if p.HasField("top_p") else None,
        stop=tuple(p.stop),
        seed=p.seed if p.HasField("seed") else None,
        tools=tools,
        tool_choice=p.tool_choice or "auto",
        response_format=fmt,
    )


def _message(m: llm_pb2.ChatMessage) -> ChatMessage:
    calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in m.tool_calls)
    return ChatMessage(m.role, m.content, tool_calls=calls, tool_call_id=m.tool_call_id, name=m.name)


def _request(request: llm_pb2.GenerateRequest) -> Request:
    params = _params(request)
    # The semantic cache never answers a request with tools or an output format: the answer
    # depends on them, and a cached plain text would break the shape asked for.
    cacheable = request.cacheable and not params.tools and params.response_format is None
    return Request(
        model=request.model, provider=request.provider, messages=[_message(m) for m in request.messages],
        params=params, tenant_id=request.caller.tenant_id, user_id=request.caller.user_id, cacheable=cacheable,
        quality=request.quality, budget_left=request.budget_left if request.HasField("budget_left") else None,
    )


def _call_pb(call: ToolCall) -> llm_pb2.ToolCall:
    return llm_pb2.ToolCall(id=call.id, name=call.name, arguments=call.arguments)


def _unknown(exc: UnknownModel) -> AppError:
    return AppError(ErrorCode.VALIDATION_ERROR, str(exc), {"field": "model"})


REDACTIONS = Counter("llm_output_redactions_total", "Spans taken out of model output", ["kind"])


def _count_redactions(found) -> None:
    for kind, n in found.items():
        REDACTIONS.labels(kind).inc(n)


class LlmServicer(RunServicer, llm_pb2_grpc.LlmOrchestratorServicer):
    def __init__(self, router: Router, counter: TokenCounter | ByteEstimate | None, redactor: Redactor | None = None,
                 exact_providers: frozenset[str] = frozenset(), stream_interval: float = 0.0, costs: CostControl | None = None,
                 replay_words: int = 4, embeddings: Embeddings | None = None) -> None:
        self._router = router
        self.embeddings = embeddings  # /v1/embeddings (Embed)
        # Pricing, routing aliases and the semantic cache; without one: no cache, no routes, no prices.
        self.costs = costs or _no_costs(counter or ByteEstimate())
        self._replay_words = replay_words
        self._stream_interval = stream_interval
        self._counter = counter or ByteEstimate()
        self._exact_providers = exact_providers  # whose models the counter counts exactly
        self._redactor = redactor  # output filter: PII, secrets, exfiltrating Markdown

    def _exact(self, chain: list[Target]) -> bool:
        return all(t.provider in self._exact_providers for t in chain)

    def _chain(self, model: str) -> list[Target]:
        """The targets a model may be served by; for a routing alias, every tier's."""
        if self.costs.router.is_routed(model):
            tiers = self.costs.router.routes[model].tiers.values()
            return list(dict.fromkeys(t for tier in tiers for t in self._router.resolve(tier)))
        return self._router.resolve(model)

    async def _plan(self, req: Request) -> Plan:
        try:
            return await self.costs.plan(req)
        except UnknownModel as exc:
            raise _unknown(exc) from None

    def _end(self, plan: Plan, selected: ModelSelected | None, end: End) -> tuple[llm_pb2.StreamEnd, str]:
        """The stream's end with its usage priced, and the cost (wire form)."""
        u = end.usage
        use = TokenUse(u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens)
        settled = self.costs.price(selected.provider, selected.model, use) if selected else None
        cost = settled.cost if settled else ""
        return llm_pb2.StreamEnd(finish_reason=end.finish_reason, usage=_usage(end, cost), served=_served(plan)), cost

    async def _replay(self, plan: Plan) -> AsyncIterator[llm_pb2.GenerateResponse]:
        """A cached answer, streamed as a fresh one is: start, deltas of a few words, end."""
        answer = plan.hit.answer
        yield llm_pb2.GenerateResponse(start=common_pb2.ModelSelected(provider=answer.provider, model=answer.model))
        words = _WORD.findall(answer.text)
        for i in range(0, len(words), self._replay_words):
            yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text="".join(words[i:i + self._replay_words])))
        yield llm_pb2.GenerateResponse(end=llm_pb2.StreamEnd(finish_reason=answer.finish_reason, usage=common_pb2.Usage(cost="0"),
                                                             served=_served(plan)))

    async def _events(self, req: Request, model: str, context) -> AsyncIterator[ModelSelected | Delta | ToolCall | End]:
        stream = self._router.generate(model, req.provider, req.messages, req.params)
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
        req = _request(request)
        plan = await self._plan(req)
        if plan.hit is not None:
            async for reply in self._replay(plan):
                yield reply
            return
        stream = StreamRedactor(self._redactor) if self._redactor else None
        sent: list[str] = []  # what the client got: kept in the cache when the answer is whole
        selected: ModelSelected | None = None
        called = False
        try:
            # Text that arrives while a message is being sent, or within the stream interval after
            # it, goes out as one delta; the first delta and the end never wait.
            async with contextlib.aclosing(read_ahead(self._events(req, plan.model, context), hold=self._stream_interval)) as batches:
                async for batch in batches:
                    for item in join_text(batch, Delta):
                        if isinstance(item, Delta):
                            text = await output_filter.feed(stream, item.text) if stream else item.text
                            if text:
                                sent.append(text)
                                yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=text))
                        elif isinstance(item, ModelSelected):
                            selected = item
                            yield llm_pb2.GenerateResponse(start=common_pb2.ModelSelected(provider=item.provider, model=item.model))
                        elif isinstance(item, ToolCall):
                            # The text before a call goes out whole first (the calls follow it).
                            if stream and (tail := await output_filter.flush(stream)):
                                sent.append(tail)
                                yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=tail))
                            called = True
                            yield llm_pb2.GenerateResponse(tool_call=_call_pb(item))
                        else:
                            if stream and (tail := await output_filter.flush(stream)):
                                sent.append(tail)
                                yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=tail))
                            end, cost = self._end(plan, selected, item)
                            # Kept before the end goes out, so a question asked again once this
                            # answer is read finds it.
                            if selected and not called:
                                await self.costs.remember(plan, "".join(sent), selected.provider, selected.model, item.finish_reason, cost)
                            yield llm_pb2.GenerateResponse(end=end)
        except AppError:
            # The provider broke off: what the output filter was holding back goes out (filtered)
            # before the error, so that the partial answer is all the provider sent.
            if stream and (tail := await output_filter.flush(stream)):
                yield llm_pb2.GenerateResponse(delta=llm_pb2.TextDelta(text=tail))
            raise
        finally:
            if stream:
                _count_redactions(stream.found)

    async def Complete(self, request: llm_pb2.GenerateRequest, context) -> llm_pb2.CompleteResponse:
        req = _request(request)
        plan = await self._plan(req)
        if plan.hit is not None:
            answer = plan.hit.answer
            return llm_pb2.CompleteResponse(provider=answer.provider, model=answer.model, text=answer.text, finish_reason=answer.finish_reason,
                                            usage=common_pb2.Usage(cost="0"), served=_served(plan))
        reply = llm_pb2.CompleteResponse()
        parts: list[str] = []
        selected: ModelSelected | None = None
        end: End | None = None
        async for item in self._events(req, plan.model, context):
            if isinstance(item, Delta):
                parts.append(item.text)
            elif isinstance(item, ModelSelected):
                selected = item
                reply.provider, reply.model = item.provider, item.model
            elif isinstance(item, ToolCall):
                reply.tool_calls.append(_call_pb(item))
            else:
                end = item
        reply.text = "".join(parts)
        if self._redactor:
            reply.text, found = await output_filter.redact(self._redactor, reply.text)
            _count_redactions(found)
        if end is not None:
            finished, cost = self._end(plan, selected, end)
            reply.finish_reason = end.finish_reason
            reply.usage.CopyFrom(finished.usage)
            reply.served.CopyFrom(finished.served)
            if selected and not reply.tool_calls:
                await self.costs.remember(plan, reply.text, selected.provider, selected.model, end.finish_reason, cost)
        return reply

    async def ListModels(self, request: llm_pb2.ListModelsRequest, context) -> llm_pb2.ListModelsResponse:
        reply = llm_pb2.ListModelsResponse(default_model=self._router.default_model)
        routed = [(alias, self._chain(alias), True) for alias in self.costs.router.routes]
        for model_id, chain, is_alias in [*self._router.catalogue(), *routed]:
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
        if self.embeddings is not None:
            reply.embedding_models.append(llm_pb2.ModelInfo(id=self.embeddings.model_name, provider="local", available=True,
                                                            dimensions=self.embeddings.dimensions))
        return reply

    async def CountTokens(self, request: llm_pb2.CountTokensRequest, context) -> llm_pb2.CountTokensResponse:
        try:
            chain = self._chain(request.model)
        except UnknownModel as exc:
            raise _unknown(exc) from None
        counts = await asyncio.to_thread(self._counter.count, list(request.texts))
        return llm_pb2.CountTokensResponse(counts=counts, tokenizer=self._counter.name, exact=self._exact(chain))


    async def Embed(self, request: llm_pb2.EmbedRequest, context) -> llm_pb2.EmbedResponse:
        if self.embeddings is None:
            raise AppError(ErrorCode.VALIDATION_ERROR, "no embedding model is served here", {"field": "model"})
        try:
            done = await self.embeddings.embed(request.model, list(request.texts))
        except UnknownEmbeddingModel as exc:
            raise AppError(ErrorCode.VALIDATION_ERROR, str(exc), {"field": "model"}) from None
        except ProviderError as exc:
            raise to_app_error(exc) from None
        settled = self.costs.price(done.provider, done.provider_model, TokenUse(done.prompt_tokens, 0))
        return llm_pb2.EmbedResponse(model=done.model, embeddings=[llm_pb2.Embedding(values=v) for v in done.vectors],
                                     prompt_tokens=done.prompt_tokens, cost=settled.cost)

    async def EraseUserData(self, request: llm_pb2.EraseCacheRequest, context) -> llm_pb2.EraseCacheResponse:
        cache = self.costs.cache
        removed = await cache.forget_user(request.caller.user_id) if cache is not None and request.caller.user_id else 0
        return llm_pb2.EraseCacheResponse(cache_entries=removed)


_WORD = re.compile(r"\s*\S+\s*|\s+")


def _no_costs(counter: TokenCounter | ByteEstimate) -> CostControl:
    from llm_orchestrator.pricing import PriceTable
    from llm_orchestrator.routing import ModelRouter

    return CostControl(PriceTable({}), ModelRouter({}), None, counter)


def _served(plan: Plan) -> common_pb2.Served:
    served = common_pb2.Served()
    if plan.hit is not None:
        served.cached, served.saved_cost = True, plan.hit.answer.cost
    if plan.route is not None:
        r = plan.route
        served.route.CopyFrom(common_pb2.RouteChoice(alias=r.alias, tier=r.tier, target=r.target, reason=r.reason))
    return served


def _usage(end: End, cost: str) -> common_pb2.Usage:
    u = end.usage
    return common_pb2.Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens, total_tokens=u.total_tokens,
                            cached_prompt_tokens=u.cached_prompt_tokens, cost=cost)
