"""Conversations and their messages, scoped to the caller: list and search, create, rename,
pin, archive, delete, export as Markdown; the messages, and the owner's rating of an answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from prometheus_client import Counter

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.ids import id_pattern
from gateway.api.deps import ChatCaller, DownstreamDep, RelaysDep, SettingsDep, caller_pb
from gateway.api.schemas.common import pagination
from gateway.api.schemas.conversations import (
    RATINGS, ConversationIn, ConversationList, ConversationOut, ConversationPatch, FeedbackIn, MessageList, MessageOut, conversation_out,
    message_out,
)
from gateway.conversation_markdown import file_name, to_markdown
from gateway.guardrails import screen_input

FEEDBACK = Counter("chat_feedback_total", "Answers rated by their owner", ["rating"])

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
    relays: RelaysDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort: Literal["created", "updated"] = "updated",
    order: Literal["asc", "desc"] = "desc",
    q: Annotated[str, Query(max_length=200, description="only conversations whose title or any message contains this text")] = "",
    archived: Annotated[Literal["exclude", "include", "only"], Query(
        description="archived conversations: left out (the default), listed with the rest, or alone")] = "exclude",
) -> ConversationList:
    """Pinned conversations come first, then the others, each group in the order asked for."""
    reply = await downstream.conversation.ListConversations(
        pb.ListConversationsRequest(caller=caller_pb(principal), page=common_pb2.PageRequest(limit=limit, offset=offset), sort=sort,
                                    order=order, query=q.strip(), archived=archived),
        timeout=settings.call_timeout_seconds,
    )
    pending = await relays.pending(principal.user_id, [c.id for c in reply.conversations])
    return ConversationList(conversations=[conversation_out(c, pending) for c in reply.conversations], pagination=pagination(reply.page))


@router.get("/{conversation_id}", response_model=ConversationOut,
            summary="A conversation; pending_message_id names its answer in flight, from any replica")
async def get_conversation(conversation_id: ConversationId, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep,
                           relays: RelaysDep) -> ConversationOut:
    conv = await downstream.conversation.GetConversation(
        pb.GetConversationRequest(caller=caller_pb(principal), conversation_id=conversation_id), timeout=settings.call_timeout_seconds
    )
    return conversation_out(conv, await relays.pending(principal.user_id, [conv.id]))


@router.patch("/{conversation_id}", response_model=ConversationOut,
              summary="Rename, pin or unpin, archive or restore a conversation, or switch the branch shown")
async def update_conversation(
    conversation_id: ConversationId, body: ConversationPatch, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep,
) -> ConversationOut:
    update = pb.UpdateConversationRequest(caller=caller_pb(principal), conversation_id=conversation_id)
    if body.title is not None:
        update.title = " ".join(body.title.split())
    if body.current_message_id is not None:
        update.current_message_id = body.current_message_id
    if body.pinned is not None:
        update.pinned = body.pinned
    if body.archived is not None:
        update.archived = body.archived
    conv = await downstream.conversation.UpdateConversation(update, timeout=settings.call_timeout_seconds)
    return conversation_out(conv)


@router.get("/{conversation_id}/export", response_class=Response, summary="The conversation as a Markdown document",
            responses={200: {"content": {"text/markdown": {}}}})
async def export_conversation(conversation_id: ConversationId, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep) -> Response:
    caller = caller_pb(principal)
    conv = await downstream.conversation.GetConversation(
        pb.GetConversationRequest(caller=caller, conversation_id=conversation_id), timeout=settings.call_timeout_seconds)
    messages: list[pb.Message] = []
    while True:
        page = await downstream.conversation.ListMessages(
            pb.ListMessagesRequest(caller=caller, conversation_id=conversation_id, current_branch=True,
                                   page=common_pb2.PageRequest(limit=_EXPORT_PAGE, offset=len(messages))),
            timeout=settings.call_timeout_seconds)
        messages += page.messages
        if len(page.messages) < _EXPORT_PAGE or len(messages) >= page.page.total:
            break
    return Response(to_markdown(conv, messages), media_type="text/markdown; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{file_name(conv)}"'})


_EXPORT_PAGE = 100


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
    branch: Annotated[Literal["all", "current"], Query(
        description="all: every message of every branch, oldest first; current: the branch shown, first to current message")] = "all",
) -> MessageList:
    reply = await downstream.conversation.ListMessages(
        pb.ListMessagesRequest(caller=caller_pb(principal), conversation_id=conversation_id, page=common_pb2.PageRequest(limit=limit, offset=offset),
                               current_branch=branch == "current"),
        timeout=settings.call_timeout_seconds,
    )
    return MessageList(messages=[message_out(m) for m in reply.messages], pagination=pagination(reply.page))


MessageId = Annotated[str, Path(pattern=id_pattern("msg"), description="msg_ followed by 32 hex digits")]


@router.put("/{conversation_id}/messages/{message_id}/feedback", response_model=MessageOut, summary="Rate an answer (up or down)")
async def rate_answer(
    conversation_id: ConversationId, message_id: MessageId, body: FeedbackIn, principal: ChatCaller, settings: SettingsDep,
    downstream: DownstreamDep,
) -> MessageOut:
    message = await downstream.conversation.SetFeedback(
        pb.SetFeedbackRequest(caller=caller_pb(principal), conversation_id=conversation_id, message_id=message_id,
                              rating=RATINGS[body.rating], comment=body.comment.strip()),
        timeout=settings.call_timeout_seconds,
    )
    FEEDBACK.labels(body.rating).inc()
    return message_out(message)


@router.delete("/{conversation_id}/messages/{message_id}/feedback", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Withdraw a rating")
async def withdraw_rating(
    conversation_id: ConversationId, message_id: MessageId, principal: ChatCaller, settings: SettingsDep, downstream: DownstreamDep,
) -> Response:
    await downstream.conversation.SetFeedback(
        pb.SetFeedbackRequest(caller=caller_pb(principal), conversation_id=conversation_id, message_id=message_id, rating=0),
        timeout=settings.call_timeout_seconds,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
