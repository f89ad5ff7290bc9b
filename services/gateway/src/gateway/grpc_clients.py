"""The gateway's channels and stubs to the fleet, opened in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot.llm.v1 import llm_pb2_grpc
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.grpc_client import open_channel
from chatbot_common.grpc_errors import MappedStub
from gateway.settings import GatewaySettings


@dataclass
class Downstream:
    channels: dict[str, grpc.aio.Channel]
    # Wrapped: a failed call raises the AppError the peer sent (or one naming the peer), never grpc.RpcError.
    conversation: conversation_pb2_grpc.ConversationServiceStub
    llm: llm_pb2_grpc.LlmOrchestratorStub
    rag: rag_pb2_grpc.RagServiceStub

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
        )

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
