"""The one error table carried across a real gRPC hop by the shared interceptor and stub wrapper."""

import grpc
import pytest

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.grpc_errors import AppErrorInterceptor, MappedStub

pytestmark = pytest.mark.contract


def _raw(data):
    return data


async def _unary(request: bytes, context):
    if request == b"missing":
        raise AppError(ErrorCode.NOT_FOUND, "document not found", {"field": "document_id"})
    if request == b"bug":
        raise RuntimeError("secret path /etc/x in a bug")
    return b"ok:" + request


async def _stream(request: bytes, context):
    yield b"first"
    if request == b"midway":
        raise AppError(ErrorCode.LLM_PROVIDER_ERROR, "upstream broke", {"provider": "fake"})
    yield b"second"


class _Stub:
    def __init__(self, channel):
        self.Get = channel.unary_unary("/t.T/Get", request_serializer=_raw, response_deserializer=_raw)
        self.Watch = channel.unary_stream("/t.T/Watch", request_serializer=_raw, response_deserializer=_raw)


@pytest.fixture
async def stub():
    server = grpc.aio.server(interceptors=[AppErrorInterceptor()])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", {
        "Get": grpc.unary_unary_rpc_method_handler(_unary, _raw, _raw),
        "Watch": grpc.unary_stream_rpc_method_handler(_stream, _raw, _raw),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield _Stub(channel)
    await channel.close()
    await server.stop(None)


async def test_a_domain_error_arrives_whole_and_a_success_untouched(stub):
    mapped = MappedStub(stub, "rag")
    assert await mapped.Get(b"x", timeout=5) == b"ok:x"
    with pytest.raises(AppError) as caught:
        await mapped.Get(b"missing", timeout=5)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert caught.value.message == "document not found"
    assert caught.value.details == {"field": "document_id"}


async def test_the_raw_status_and_trailers_are_the_tables(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Get(b"missing", timeout=5)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert ("x-error-code", "NOT_FOUND") in tuple(caught.value.trailing_metadata())


async def test_a_bug_is_an_internal_error_without_its_text(stub):
    with pytest.raises(AppError) as caught:
        await MappedStub(stub, "rag").Get(b"bug", timeout=5)
    assert caught.value.code is ErrorCode.INTERNAL_ERROR
    assert "secret" not in caught.value.message and "RuntimeError" not in caught.value.message


async def test_a_stream_fails_midway_as_the_domain_error_after_its_first_reply(stub):
    got = []
    with pytest.raises(AppError) as caught:
        async for reply in MappedStub(stub, "llm-orchestrator").Watch(b"midway", timeout=5):
            got.append(reply)
    assert got == [b"first"]
    assert caught.value.code is ErrorCode.LLM_PROVIDER_ERROR
    assert caught.value.details == {"provider": "fake"}
    replies = [r async for r in MappedStub(stub, "llm-orchestrator").Watch(b"whole", timeout=5)]
    assert replies == [b"first", b"second"]


async def test_an_unreachable_peer_is_named_as_unavailable():
    channel = grpc.aio.insecure_channel("127.0.0.1:1")
    try:
        with pytest.raises(AppError) as caught:
            await MappedStub(_Stub(channel), "conversation").Get(b"x", timeout=2)
    finally:
        await channel.close()
    assert caught.value.code is ErrorCode.SERVICE_UNAVAILABLE
    assert caught.value.message == "conversation is unavailable"
