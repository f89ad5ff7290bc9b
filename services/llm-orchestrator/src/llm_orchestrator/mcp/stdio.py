"""Stdio MCP servers, each message they write capped at LLM_MCP_MAX_RESPONSE_BYTES.

The SDK's stdio transport (mcp.client.stdio.stdio_client) gathers a line of the server's output
however long it grows, so a server that prints a gigabyte without a newline costs that much
memory. This is the same transport (the SDK's process start, its shutdown sequence, its parsing
of a line) reading the server's output itself: a line past the cap is dropped as it comes, never
held whole. A line that begins as an answer to a request (`{"jsonrpc": "2.0", "id": 7,
"result": ...`, the way servers write them) gives that request an error answer naming the cap
at once, so the call fails and the session goes on; any other is reported to the session as a
line it could not read (the SDK logs it), as an unparseable line is.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TextIO

import anyio
import anyio.lowlevel
from mcp.client import stdio as sdk_stdio
from mcp.client._transport import TransportStreams
from mcp.client.stdio import StdioServerParameters
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import INTERNAL_ERROR, ErrorData, JSONRPCError

log = logging.getLogger(__name__)

# The start of an answer: "id" before "result" or "error" ("jsonrpc" before or between them).
_ANSWER_HEAD = re.compile(rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*,'
                          rb'\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"(?:result|error)"\s*:')
_HEAD_BYTES = 256


class MessageTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the server's answer is larger than {limit} bytes (LLM_MCP_MAX_RESPONSE_BYTES)")


class CappedLines:
    """The server's output split into messages (one a line), none held past `limit` bytes."""

    def __init__(self, limit: int, encoding: str = "utf-8", errors: str = "strict") -> None:
        self._limit = limit
        self._encoding = encoding
        self._errors = errors
        self._parts: list[bytes] = []
        self._size = 0
        self._head = b""  # the line's first bytes, to tell whose answer a dropped line was
        self._dropping = False

    def feed(self, chunk: bytes) -> list[SessionMessage | Exception]:
        out: list[SessionMessage | Exception] = []
        while True:
            end = chunk.find(b"\n")
            piece = chunk if end < 0 else chunk[:end]
            if not self._dropping:
                self._head += piece[:_HEAD_BYTES - len(self._head)]
                self._parts.append(piece)
                self._size += len(piece)
                if self._size > self._limit:
                    out.append(self._too_large())
                    self._parts, self._size, self._dropping = [], 0, True
            if end < 0:
                return out
            if not self._dropping:
                out.append(self._message(b"".join(self._parts)))
            self._parts, self._size, self._head, self._dropping = [], 0, b"", False
            chunk = chunk[end + 1:]

    def _message(self, line: bytes) -> SessionMessage | Exception:
        try:
            text = line.decode(self._encoding, self._errors)
        except UnicodeDecodeError as exc:
            return exc
        return sdk_stdio._parse_line(text)

    def _too_large(self) -> SessionMessage | Exception:
        answer = _ANSWER_HEAD.match(self._head)
        try:
            # An id the pattern lets through but JSON does not (`007`, `"\\q"`) answers no request.
            request_id = json.loads(answer.group(1)) if answer is not None else None
        except ValueError:
            request_id = None
        if request_id is None:
            return MessageTooLarge(self._limit)
        error = ErrorData(code=INTERNAL_ERROR, message=str(MessageTooLarge(self._limit)))
        return SessionMessage(JSONRPCError(jsonrpc="2.0", id=request_id, error=error))


@asynccontextmanager
async def capped_stdio_client(server: StdioServerParameters, max_message_bytes: int,
                              errlog: TextIO = sys.stderr) -> AsyncGenerator[TransportStreams, None]:
    """mcp.client.stdio.stdio_client, each line the server writes read up to `max_message_bytes`."""
    process = await sdk_stdio._create_platform_compatible_process(
        command=await sdk_stdio._get_executable_command(server.command), args=server.args,
        env=sdk_stdio.get_default_environment() | (server.env or {}), errlog=errlog, cwd=server.cwd)
    read_stream_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_stream_reader = anyio.create_memory_object_stream[SessionMessage](0)
    shutting_down = False
    writer_done = anyio.Event()

    async def stdout_reader() -> None:
        lines = CappedLines(max_message_bytes, server.encoding, server.encoding_error_handler)
        try:
            async with read_stream_writer:
                try:
                    async for chunk in process.stdout:
                        for message in lines.feed(chunk):
                            try:
                                await read_stream_writer.send(message)
                            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                                return  # the session is gone; only the drain below remains
                finally:
                    await sdk_stdio._drain_stdout(process)
        except anyio.ClosedResourceError:
            pass  # our own shutdown closed the stdout stream under the read
        except (anyio.BrokenResourceError, ConnectionError):
            if not shutting_down:
                log.warning("reading from an MCP server's stdout failed mid-session")

    async def stdin_writer() -> None:
        try:
            async with write_stream_reader:
                async for session_message in write_stream_reader:
                    text = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((text + "\n").encode(server.encoding, server.encoding_error_handler))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await read_stream_writer.aclose()  # the session sees the connection end, not a hanging request
        finally:
            writer_done.set()

    async def shutdown() -> None:
        # The SDK's sequence: stop traffic, let the writer flush, stop the server, release the streams.
        read_stream.close()
        write_stream.close()
        with anyio.move_on_after(sdk_stdio._WRITER_FLUSH_TIMEOUT):
            await writer_done.wait()
        await sdk_stdio._stop_server_process(process)
        await sdk_stdio._aclose_all(read_stream, write_stream, read_stream_writer, write_stream_reader)
        await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            shutting_down = True
            with anyio.CancelScope(shield=True):  # every wait inside is bounded; the server never outlives us
                await shutdown()
            tg.cancel_scope.cancel()
    await anyio.lowlevel.cancel_shielded_checkpoint()
