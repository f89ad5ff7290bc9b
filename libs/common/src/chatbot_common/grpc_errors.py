"""The two ends of the one error table on gRPC, written once for the fleet.

A servicer raises `AppError` and never calls `abort` itself: `AppErrorInterceptor` (installed
by `grpc_server.start_grpc` on every service) ends the RPC with the status and trailers that
carry the error. A caller wraps a stub in `MappedStub` (the gateway's and the conversation's
downstream stubs are), so a failed call raises the same `AppError` again instead of
`grpc.RpcError`, whether it failed at the start of a call or in the middle of a stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from chatbot_common.errors import AppError, ErrorCode, abort, from_rpc_error

log = logging.getLogger(__name__)

_INTERNAL = AppError(ErrorCode.INTERNAL_ERROR, "internal error")


async def _end_with(context: Any, exc: Exception, method: str) -> None:
    if isinstance(exc, AppError):
        await abort(context, exc)
        return
    # Anything else is a bug: logged here with its trace, never sent (it may hold internals).
    log.error("unhandled error in an RPC", exc_info=exc, extra={"rpc": method})
    await abort(context, _INTERNAL)


class AppErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns a domain error raised by any servicer method into its gRPC status and trailers."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                try:
                    return await inner_uu(request, context)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await _end_with(context, exc, method)

            return grpc.unary_unary_rpc_method_handler(unary_unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            inner_us = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                try:
                    async for item in inner_us(request, context):
                        yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await _end_with(context, exc, method)

            return grpc.unary_stream_rpc_method_handler(unary_stream, handler.request_deserializer, handler.response_serializer)
        return handler


class _MappedStream:
    """A server-streaming call whose failures arrive as `AppError`; `cancel()` still reaches the call."""

    __slots__ = ("_call", "_peer")

    def __init__(self, call: Any, peer: str) -> None:
        self._call = call
        self._peer = peer

    def cancel(self) -> bool:
        return self._call.cancel()

    async def read(self) -> Any:
        """The next reply, or `grpc.aio.EOF` once the stream has ended."""
        try:
            return await self._call.read()
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self._peer) from None

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            async for reply in self._call:
                yield reply
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self._peer) from None


class MappedStub:
    """Wraps a generated aio stub: every method keeps its signature and raises `AppError`
    (read back from the peer's trailers by `from_rpc_error`) instead of `grpc.RpcError`."""

    def __init__(self, stub: Any, peer: str) -> None:
        self._stub = stub
        self._peer = peer

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        peer = self._peer
        if isinstance(method, grpc.aio.UnaryStreamMultiCallable):

            def stream(request: Any, **kwargs: Any) -> _MappedStream:
                return _MappedStream(method(request, **kwargs), peer)

            wrapped: Any = stream
        elif isinstance(method, grpc.aio.UnaryUnaryMultiCallable):

            async def unary(request: Any, **kwargs: Any) -> Any:
                try:
                    return await method(request, **kwargs)
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc, peer) from None

            wrapped = unary
        else:
            return method
        setattr(self, name, wrapped)  # built once per method name
        return wrapped
