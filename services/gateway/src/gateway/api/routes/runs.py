"""Agent runs: the tools a person may enable (GET /api/v1/tools) and a person's decision about
a run paused before a sensitive tool (POST /api/v1/runs/{run_id}/approval)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chatbot.llm.v1 import llm_pb2
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import id_pattern
from gateway.api.deps import ChatCaller, DownstreamDep, LimitsDep, RelaysDep, SessionsDep, SettingsDep
from gateway.chat_turns import sse_encoded
from gateway.grpc_clients import caller_of
from gateway.guardrails import record_turn_event
from gateway.run_approvals import decide

router = APIRouter(tags=["agents"])

RunId = Annotated[str, Path(pattern=id_pattern("msg"), description="the run's id: its answer's message id (approval_required's run_id)")]


class ToolOut(BaseModel):
    name: str
    description: str
    sensitive: bool = Field(description="each call waits for your approval")
    parameters: dict[str, Any]


class ToolList(BaseModel):
    tools: list[ToolOut]


@router.get("/tools", response_model=ToolList, summary="The tools you may enable in a chat turn")
async def list_tools(principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> ToolList:
    reply = await downstream.llm.ListTools(llm_pb2.ListToolsRequest(caller=caller_of(principal)), timeout=settings.call_timeout_seconds)
    return ToolList(tools=[ToolOut(name=t.name, description=t.description, sensitive=t.sensitive,
                                   parameters=orjson.loads(t.parameters or "{}")) for t in reply.tools])


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "deny", "edit"]
    arguments: dict[str, Any] | None = Field(None, description="edit: the arguments to run the call with (checked against the tool's schema)")
    call_id: str | None = Field(None, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
                                description="the call decided (none: every call waiting); calls left undecided are denied")

    @model_validator(mode="after")
    def _arguments_with_edit(self) -> ApprovalIn:
        if (self.decision == "edit") != (self.arguments is not None):
            raise ValueError("arguments go with decision edit, and only with it")
        return self


class ApprovalOut(BaseModel):
    run_id: str
    conversation_id: str
    message_id: str = Field(description="the answer the run goes on in")
    stream_id: str = Field(description="follow the run's events: GET /api/v1/chat/stream/{stream_id}")
    decision: str


@router.post("/runs/{run_id}/approval", status_code=status.HTTP_202_ACCEPTED, response_model=ApprovalOut,
             summary="Approve, deny or edit the calls a paused agent run waits on; the run goes on")
async def approve(
    run_id: RunId, body: ApprovalIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep,
    limits: LimitsDep, relays: RelaysDep, sessions: SessionsDep,
) -> ApprovalOut:
    """Only the run's owner, once, within the approval window (409 after: decided, ended or
    expired). Someone else's run is 404."""
    try:
        done = await decide(downstream, relays, limits, sessions, settings, principal, run_id, body.decision, body.arguments, body.call_id,
                            request=request, encode=sse_encoded, on_guardrail=lambda e: record_turn_event(request, principal, e))
    except AppError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise AppError(ErrorCode.NOT_FOUND, "no run of yours waits with this id") from None
        raise
    return ApprovalOut(run_id=done.run_id, conversation_id=done.conversation_id, message_id=done.message_id, stream_id=done.stream_id,
                       decision=body.decision)
