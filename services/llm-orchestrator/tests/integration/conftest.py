"""The orchestrator as a real gRPC server on a free port, for the tests that call it over gRPC."""

from __future__ import annotations

from contextlib import asynccontextmanager

import grpc
import pytest

from chatbot.llm.v1 import llm_pb2_grpc
from chatbot_common.grpc_server import start_grpc
from llm_orchestrator.server import build_service
from llm_orchestrator.settings import LlmSettings


@pytest.fixture
def serve_orchestrator():
    """`async with serve_orchestrator(settings) as stub:` runs the service until the block ends."""

    @asynccontextmanager
    async def serve(settings: LlmSettings):
        running = await start_grpc(build_service(settings), settings)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            yield llm_pb2_grpc.LlmOrchestratorStub(channel)
        finally:
            await channel.close()
            await running.stop(1)

    return serve
