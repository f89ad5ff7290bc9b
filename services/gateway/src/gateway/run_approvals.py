"""A person's decision about an agent run paused for approval: the conversation service (which
keeps the paused run with its answer) checks that the run is the caller's, open and still in
its window, and the run goes on into a new answer buffer that any replica can follow. Every
decision is audited, refusals included, without the arguments (they may hold personal data)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from gateway import audit
from gateway.answers.relay import Relays
from gateway.chat_stream import TurnStarted, open_resumed
from gateway.grpc_clients import Downstream, caller_of
from gateway.limits.limiter import Limits, begin_turn
from gateway.security import Principal
from gateway.settings import GatewaySettings


@dataclass(frozen=True)
class Decided:
    run_id: str
    conversation_id: str
    message_id: str
    stream_id: str  # the answer buffer the run goes on in (GET /api/v1/chat/stream/{stream_id})


async def decide(downstream: Downstream, relays: Relays, limits: Limits, sessions: async_sessionmaker, settings: GatewaySettings,
                 principal: Principal, run_id: str, decision: str, arguments: dict | None, call_id: str | None, *,
                 request: audit.Origin, encode, on_guardrail) -> Decided:
    details = {"decision": decision, "call_id": call_id or "all"}
    try:
        edited = orjson.dumps(arguments).decode() if arguments is not None else ""
    except orjson.JSONEncodeError:  # nested past orjson's 255 levels: no tool's schema asks for that
        raise AppError(ErrorCode.VALIDATION_ERROR, "the arguments nest too deeply", {"field": "arguments"}) from None
    resume = pb.ResumeRunRequest(caller=caller_of(principal), run_id=run_id, request_id=getattr(request.state, "request_id", ""),
                                 decisions=[pb.ToolDecision(call_id=call_id or "", action=decision, arguments=edited)])
    guard = await begin_turn(limits, principal, 0, None, stream=True)
    try:
        stream, first = await open_resumed(downstream, resume, settings.chat_timeout_seconds)
    except BaseException as exc:
        await guard.finish(0)
        if isinstance(exc, AppError):
            await audit.write(sessions, audit.by(principal, "run.approval", request, outcome="failure", target_type="run", target_id=run_id,
                                                 details={**details, "reason": exc.code.value}))
        raise
    stream_id = new_id("msg")
    try:
        if not isinstance(first, TurnStarted):
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "conversation service did not resume the run")
        await relays.start(stream_id, principal.user_id, stream, guard, encode, on_guardrail, first.conversation_id, resumed=True)
    except BaseException:
        stream.cancel()
        await guard.finish(0)
        raise
    await audit.write(sessions, audit.by(principal, "run.approval", request, target_type="run", target_id=run_id, details=details))
    return Decided(run_id, first.conversation_id, first.assistant_message_id, stream_id)
