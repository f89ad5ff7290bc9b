"""rag serves health now and its contract answers UNIMPLEMENTED until the knowledge-base work."""

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatbot.rag.v1 import rag_pb2, rag_pb2_grpc
from chatbot_common.grpc_server import start_grpc
from rag.server import build_service
from rag.settings import RagSettings

pytestmark = pytest.mark.contract


async def test_health_serving_and_rpcs_unimplemented(tmp_path):
    settings = RagSettings(grpc_port=0, var_dir=tmp_path)
    running = await start_grpc(build_service(settings), settings, readiness_interval=0.05)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(40):
                reply = await health.Check(health_pb2.HealthCheckRequest(service="chatbot.rag.v1.RagService"), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.05)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await rag_pb2_grpc.RagServiceStub(channel).Search(rag_pb2.SearchRequest(query="x"), timeout=2)
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await running.stop(0)
