"""User memory: the facts the assistant keeps about the caller (opt-in), listed, added, edited
and deleted; and a tenant admin's switch that turns user memory off for the whole tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import id_pattern
from gateway import audit
from gateway.api.deps import Admin, ChatCaller, DownstreamDep, SessionsDep, SettingsDep, caller_pb
from gateway.api.schemas.memory import (
    MemoryFactIn, MemoryFactOut, MemoryOut, MemoryPolicyIn, MemoryPolicyOut, MemorySettingsIn, fact_out, memory_out,
)
from gateway.guardrails import screen_input

router = APIRouter(tags=["memory"])

FactId = Annotated[str, Path(pattern=id_pattern("mem"), description="mem_ followed by 32 hex digits")]


async def _screened(request: Request, principal, content: str) -> str:
    """A fact reaches the model like a message does: screened alike, whitespace made plain."""
    (text,), _ = await screen_input(request, principal, [" ".join(content.split())])
    if not text.strip():
        raise AppError(ErrorCode.VALIDATION_ERROR, "content is blank", {"field": "content"})
    return text


@router.get("/me/memory", response_model=MemoryOut, summary="What the assistant remembers about you, and whether memory is on")
async def get_memory(principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> MemoryOut:
    reply = await downstream.conversation.GetMemory(pb.GetMemoryRequest(caller=caller_pb(principal)), timeout=settings.call_timeout_seconds)
    return memory_out(reply)


@router.put("/me/memory/settings", response_model=MemoryOut, summary="Turn your memory on or off (your facts are kept either way)")
async def set_memory(body: MemorySettingsIn, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> MemoryOut:
    reply = await downstream.conversation.UpdateMemorySettings(
        pb.UpdateMemorySettingsRequest(caller=caller_pb(principal), enabled=body.enabled), timeout=settings.call_timeout_seconds)
    return memory_out(reply)


@router.post("/me/memory", status_code=status.HTTP_201_CREATED, response_model=MemoryFactOut, summary="Add a fact to remember")
async def add_fact(body: MemoryFactIn, request: Request, principal: ChatCaller, settings: SettingsDep,
                   downstream: DownstreamDep) -> MemoryFactOut:
    fact = await downstream.conversation.AddMemoryFact(
        pb.AddMemoryFactRequest(caller=caller_pb(principal), content=await _screened(request, principal, body.content)),
        timeout=settings.call_timeout_seconds)
    return fact_out(fact)


@router.patch("/me/memory/{fact_id}", response_model=MemoryFactOut, summary="Edit a remembered fact")
async def edit_fact(fact_id: FactId, body: MemoryFactIn, request: Request, principal: ChatCaller, settings: SettingsDep,
                    downstream: DownstreamDep) -> MemoryFactOut:
    fact = await downstream.conversation.UpdateMemoryFact(
        pb.UpdateMemoryFactRequest(caller=caller_pb(principal), fact_id=fact_id, content=await _screened(request, principal, body.content)),
        timeout=settings.call_timeout_seconds)
    return fact_out(fact)


@router.delete("/me/memory/{fact_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, summary="Forget a fact")
async def delete_fact(fact_id: FactId, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> Response:
    await downstream.conversation.DeleteMemoryFact(pb.DeleteMemoryFactRequest(caller=caller_pb(principal), fact_id=fact_id),
                                                   timeout=settings.call_timeout_seconds)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/admin/memory-policy", response_model=MemoryPolicyOut, summary="Whether your organisation's users may use memory")
async def get_policy(principal: Admin, settings: SettingsDep, downstream: DownstreamDep) -> MemoryPolicyOut:
    reply = await downstream.conversation.GetTenantMemoryPolicy(pb.GetTenantMemoryPolicyRequest(caller=caller_pb(principal)),
                                                                timeout=settings.call_timeout_seconds)
    return MemoryPolicyOut(user_memory_allowed=reply.user_memory_allowed)


@router.put("/admin/memory-policy", response_model=MemoryPolicyOut,
            summary="Allow or forbid user memory in your organisation (forbidden: no fact is kept or used, whatever users chose)")
async def set_policy(body: MemoryPolicyIn, request: Request, principal: Admin, settings: SettingsDep, downstream: DownstreamDep,
                     sessions: SessionsDep) -> MemoryPolicyOut:
    reply = await downstream.conversation.SetTenantMemoryPolicy(
        pb.TenantMemoryPolicy(caller=caller_pb(principal), user_memory_allowed=body.user_memory_allowed),
        timeout=settings.call_timeout_seconds)
    await audit.write(sessions, audit.by(principal, "tenant.memory_policy", request, target_type="tenant", target_id=principal.tenant_id,
                                         details={"user_memory_allowed": body.user_memory_allowed}))
    return MemoryPolicyOut(user_memory_allowed=reply.user_memory_allowed)
