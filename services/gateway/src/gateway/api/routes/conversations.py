"""Conversations and their messages, scoped to the caller."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.ids import id_pattern
from gateway.api.deps import ChatCaller, DownstreamDep, SettingsDep, caller_pb
from gateway.api.schemas.common import pagination
from gateway.api.schemas.conversations import (
    ConversationIn, ConversationList, ConversationOut, MessageList, conversation_out, message_out,
)
from gateway.guardrails import screen_input

router = APIRouter(prefix="/conversations", tags=["conversations"])

ConversationId = Annotated[str, Path(pattern=id_pattern("conv"), description="conv_ followed by 32 hex digits")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationOut)
async def create_conversation(
    body: ConversationIn, request: Request, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep,
) -> ConversationOut:
    # A caller's system prompt reaches the model like a message does: screened alike.
    (system_prompt,), _ = await screen_input(request, principal, [body.system_prompt], ["instructions"])
    conv = await downstream.conversation.CreateConversation(
        pb.CreateConversationRequest(caller=caller_pb(principal), title=body.title, model=body.model, provider=body.provider,
                                     system_prompt=system_prompt),
        timeout=settings.call_timeout_seconds,
    )
    return conversation_out(conv)


@router.get("", response_model=ConversationList)
async def list_conversations(
    principal: ChatCaller,
    settings: SettingsDep,
    downstream: DownstreamDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: Literal["created", "updated"] = "updated",
    order: Literal["asc", "desc"] = "desc",
) -> ConversationList:
    reply = await downstream.conversation.ListConversations(
        pb.ListConversationsRequest(caller=caller_pb(principal), page=common_pb2.PageRequest(limit=limit, offset=offset), sort=sort, order=order),
        timeout=settings.call_timeout_seconds,
    )
    return ConversationList(conversations=[conversation_out(c) for c in reply.conversations], pagination=pagination(reply.page))


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: ConversationId, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> ConversationOut:
    conv = await downstream.conversation.GetConversation(
        pb.GetConversationRequest(caller=caller_pb(principal), conversation_id=conversation_id), timeout=settings.call_timeout_seconds
    )
    return conversation_out(conv)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_conversation(conversation_id: ConversationId, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> Response:
    await downstream.conversation.DeleteConversation(
        pb.DeleteConversationRequest(caller=caller_pb(principal), conversation_id=conversation_id), timeout=settings.call_timeout_seconds
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages", response_model=MessageList)
async def list_messages(
    conversation_id: ConversationId,
    principal: ChatCaller,
    settings: SettingsDep,
    downstream: DownstreamDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> MessageList:
    reply = await downstream.conversation.ListMessages(
        pb.ListMessagesRequest(caller=caller_pb(principal), conversation_id=conversation_id, page=common_pb2.PageRequest(limit=limit, offset=offset)),
        timeout=settings.call_timeout_seconds,
    )
    return MessageList(messages=[message_out(m) for m in reply.messages], pagination=pagination(reply.page))
