"""The shared metrics interceptor on a real gRPC server: every RPC counted by its final code and
timed, and the streams in progress visible while they run (what an autoscaler follows)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from prometheus_client import REGISTRY

from chatbot_common.metrics import MetricsInterceptor

pytestmark = pytest.mark.contract

SERVICE, METHOD = "test.v1.Echo", "Count"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"grpc_service": SERVICE, "grpc_method": METHOD, **labels}) or 0.0


async def test_streams_in_progress_are_counted_while_they_run_and_then_by_their_code():
    release = asyncio.Event()
    started = asyncio.Event()

    async def count(request: bytes, context):
        started.set()
        await release.wait()
        for i in range(int(request.decode())):
            yield str(i).encode()
        if request == b"0":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "nothing to count")

    handler = grpc.method_handlers_generic_handler(SERVICE, {METHOD: grpc.unary_stream_rpc_method_handler(count)})
    server = grpc.aio.server(interceptors=[MetricsInterceptor()])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    ok_before = sample("grpc_server_handled_total", grpc_code="OK")
    bad_before = sample("grpc_server_handled_total", grpc_code="INVALID_ARGUMENT")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_stream(f"/{SERVICE}/{METHOD}")
            streams = [call(b"3"), call(b"2")]
            readers = [asyncio.create_task(_read(s)) for s in streams]
            await asyncio.wait_for(started.wait(), 10)
            for _ in range(100):  # both streams reach the handler
                if sample("grpc_server_active_rpcs") == 2:
                    break
                await asyncio.sleep(0.02)
            assert sample("grpc_server_active_rpcs") == 2
            release.set()
            assert [await r for r in readers] == [[b"0", b"1", b"2"], [b"0", b"1"]]
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _read(call(b"0"))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await server.stop(0)
    assert sample("grpc_server_active_rpcs") == 0
    assert sample("grpc_server_handled_total", grpc_code="OK") == ok_before + 2
    assert sample("grpc_server_handled_total", grpc_code="INVALID_ARGUMENT") == bad_before + 1
    assert sample("grpc_server_handling_seconds_count") >= 3


async def _read(stream) -> list[bytes]:
    return [item async for item in stream]
