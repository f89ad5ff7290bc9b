"""The rag service's Search over gRPC, as the knowledge-base tool's caller: the request carries
the run's caller (user, tenant, roles), so the rag service applies its access filters to them."""

from __future__ import annotations

import grpc

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2, rag_pb2_grpc
from chatbot_common.errors import AppError
from chatbot_common.grpc_client import open_channel
from chatbot_common.grpc_errors import MappedStub
from chatbot_common.passages import Passage
from llm_orchestrator.tools.base import ToolContext, ToolError


class GrpcKnowledgeBase:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._channel = channel
        self._stub = MappedStub(rag_pb2_grpc.RagServiceStub(channel), "rag")
        self._timeout = timeout

    @classmethod
    def open(cls, target: str, timeout: float) -> GrpcKnowledgeBase:
        return cls(open_channel(target), timeout)

    async def aclose(self) -> None:
        await self._channel.close()

    async def search(self, context: ToolContext, query: str, top_k: int) -> list[Passage]:
        caller = common_pb2.Caller(user_id=context.user_id, tenant_id=context.tenant_id, roles=list(context.roles))
        try:
            reply = await self._stub.Search(rag_pb2.SearchRequest(caller=caller, query=query, top_k=top_k), timeout=self._timeout)
        except AppError as exc:  # its message is written for clients; the model may read it
            raise ToolError(f"the knowledge base could not be searched: {exc.message}") from None
        return [Passage(h.chunk.document_id, h.chunk.chunk_id, h.chunk.title, h.chunk.section, h.chunk.page, h.chunk.text,
                        h.snippet, round(h.score, 4)) for h in reply.hits]
