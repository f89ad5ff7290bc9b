"""The gateway's channels and stubs to the fleet, opened in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot.llm.v1 import llm_pb2_grpc, mcp_pb2_grpc
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.grpc_client import open_channel
from chatbot_common.grpc_errors import MappedStub
from gateway.models import User
from gateway.security import Principal
from gateway.settings import GatewaySettings


def caller_of(principal: Principal) -> common_pb2.Caller:
    """Who a downstream call is made for (each service applies its own access rules to it)."""
    return common_pb2.Caller(user_id=principal.user_id, tenant_id=principal.tenant_id, roles=[principal.role])


def account_caller(user: User) -> common_pb2.Caller:
    """A call made for an account rather than for a request's caller (a data export, storage events)."""
    return common_pb2.Caller(user_id=user.id, tenant_id=user.tenant_id, roles=[user.role])


@dataclass
class Downstream:
    channels: dict[str, grpc.aio.Channel]
    # Wrapped: a failed call raises the AppError the peer sent (or one naming the peer), never grpc.RpcError.
    conversation: conversation_pb2_grpc.ConversationServiceStub
    llm: llm_pb2_grpc.LlmOrchestratorStub
    rag: rag_pb2_grpc.RagServiceStub
    mcp: mcp_pb2_grpc.McpServersStub  # the tenants' MCP servers, kept by the llm-orchestrator

    @classmethod
    def open(cls, settings: GatewaySettings) -> Downstream:
        channels = {
            "conversation": open_channel(settings.conversation_target),
            "llm-orchestrator": open_channel(settings.llm_target),
            "rag": open_channel(settings.rag_target),
            "ingest-worker": open_channel(settings.ingest_target),
        }
        return cls(
            channels=channels,
            conversation=MappedStub(conversation_pb2_grpc.ConversationServiceStub(channels["conversation"]), "conversation"),
            llm=MappedStub(llm_pb2_grpc.LlmOrchestratorStub(channels["llm-orchestrator"]), "llm-orchestrator"),
            rag=MappedStub(rag_pb2_grpc.RagServiceStub(channels["rag"]), "rag"),
            mcp=MappedStub(mcp_pb2_grpc.McpServersStub(channels["llm-orchestrator"]), "llm-orchestrator"),
        )

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
