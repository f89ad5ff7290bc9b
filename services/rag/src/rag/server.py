"""Serves the RagService contract. Until the knowledge-base work lands, every RPC answers
UNIMPLEMENTED (the generated base servicer) and nothing in the fleet calls it."""

from __future__ import annotations

from chatbot.rag.v1 import rag_pb2, rag_pb2_grpc
from chatbot_common.grpc_server import GrpcService, serve_grpc
from rag.settings import RagSettings

SERVICE_NAME = rag_pb2.DESCRIPTOR.services_by_name["RagService"].full_name


def build_service(settings: RagSettings) -> GrpcService:
    servicer = rag_pb2_grpc.RagServiceServicer()
    return GrpcService(
        full_names=[SERVICE_NAME],
        register=lambda server: rag_pb2_grpc.add_RagServiceServicer_to_server(servicer, server),
    )


async def serve(settings: RagSettings) -> None:
    await serve_grpc(build_service(settings), settings)
