"""Sessions with MCP servers through the official SDK (`mcp.Client`): streamable HTTP with the
server's credential headers, or stdio for a command the operator allow-listed.

A session is opened on first use and kept while it is used (one per server and configuration,
so the calls of a run, and of runs after it, share it), then closed after LLM_MCP_IDLE_SECONDS
without a call. The SDK's client runs inside task groups that must be entered and left by one
task, so each session is owned by a task of its own; calls from any task go through it. A
session that fails is dropped, and the next call opens a new one. Every HTTP request goes to an
address the policy (chatbot_common.net_guard) checked for it (`PinnedTransport`); the SDK follows
a redirect only within the URL's origin. No message is read past LLM_MCP_MAX_RESPONSE_BYTES: a
server's answer is the tenant's to write, and the SDK would hold all of it in memory. The cap
holds per JSON body, per event of an event stream (a session's GET stream lasts as long as the
session and may carry any number of messages), and per line from a stdio server (mcp.stdio)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, Tool as McpToolInfo

from chatbot_common.net_guard import AddressPolicy
from llm_orchestrator.mcp.stdio import capped_stdio_client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """How to reach one server, as configured now (`version` changes with every edit)."""

    server_id: str
    version: str
    transport: str  # http | stdio
    url: str = ""
    argv: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class ResponseTooLarge(httpx2.StreamError, httpx2.SSEError):
    """An answer longer than the cap. A StreamError and an SSEError: the SDK turns either, read
    from a JSON or an event-stream body, into an error answer to the request that waits for it,
    so the call fails (an observation for the model) and the session goes on."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the server's answer is larger than {limit} bytes (LLM_MCP_MAX_RESPONSE_BYTES)")


class _CappedStream(httpx2.AsyncByteStream):
    """A JSON body (one message, or a batch) that stops with ResponseTooLarge once more than
    `limit` bytes came (or at once when its Content-Length says so)."""

    def __init__(self, stream: httpx2.AsyncByteStream, limit: int, declared: str | None) -> None:
        self._stream = stream
        self._limit = limit
        self._declared = int(declared) if declared and declared.isdigit() else 0

    async def __aiter__(self):
        if self._declared > self._limit:
            raise ResponseTooLarge(self._limit)
        seen = 0
        async for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


class _EventCappedStream(_CappedStream):
    """An event stream whose events (one JSON-RPC message each) may be up to `limit` bytes,
    however many of them come: it stops with ResponseTooLarge only when one event, counted from
    the blank line that ended the one before, grows past the cap. Lines end with CRLF, LF or CR."""

    def __init__(self, stream: httpx2.AsyncByteStream, limit: int) -> None:
        super().__init__(stream, limit, None)

    async def __aiter__(self):
        event = 0  # bytes of the event being read (line ends counted as one byte)
        line_ended = False  # the bytes so far end with a line end
        held_cr = False  # a CR ended the last chunk: half of a CRLF, or a line end of its own
        async for chunk in self._stream:
            data = b"\r" + chunk if held_cr else chunk
            held_cr = data.endswith(b"\r")
            lines = (data[:-1] if held_cr else data).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if lines:
                seen = b"\n" + lines if line_ended else lines
                end = seen.rfind(b"\n\n")
                event = len(seen) - end - 2 if end >= 0 else event + len(lines)
                line_ended = lines.endswith(b"\n")
            if event > self._limit:
                raise ResponseTooLarge(self._limit)
            yield chunk


class PinnedTransport(httpx2.AsyncBaseTransport):
    """Every request goes to an address the policy checked a moment before: the host is resolved
    and checked here, the request sent to that address, the name kept in the Host header and in
    TLS's SNI (so the certificate is still verified against it). A DNS answer that changes after
    the check (rebinding) is never used, and no proxy from the environment is taken. Answers are
    read up to `max_response_bytes` (a JSON body whole, an event stream event by event),
    uncompressed: compression is not asked for, and a body sent compressed anyway is passed on as
    it came (the SDK cannot parse it), never inflated past the cap."""

    def __init__(self, policy: AddressPolicy, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.policy = policy
        self.max_response_bytes = max_response_bytes
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        address = (await self.policy.resolve(url.host, port))[0]  # BlockedAddress: nothing is sent
        request.headers.setdefault("Host", url.netloc.decode("ascii"))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": url.host}
        request.url = url.copy_with(host=address)
        request.headers["Accept-Encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        if "content-encoding" in response.headers:
            del response.headers["content-encoding"]
        if response.headers.get("content-type", "").partition(";")[0].strip().lower() == "text/event-stream":
            response.stream = _EventCappedStream(response.stream, self.max_response_bytes)
        else:
            response.stream = _CappedStream(response.stream, self.max_response_bytes, response.headers.get("content-length"))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class McpUnreachable(Exception):
    """The server could not be reached or spoke no MCP; the message is safe to show an admin."""


class _Session:
    def __init__(self, client: Client, idle_seconds: float, http: httpx2.AsyncClient | None = None) -> None:
        self.client = client
        self.http = http  # ours to close: the SDK leaves a client it was given open
        self.http_status = 0  # of the last HTTP answer: the SDK reports a refusal without it
        self.idle_seconds = idle_seconds
        self.ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self.closing = asyncio.Event()
        self.in_use = 0
        self.last_used = time.monotonic()
        self.broken = False
        self.task = asyncio.create_task(self._own())

    async def _own(self) -> None:
        try:
            async with self.client as client:
                self.ready.set_result(client)
                await self.closing.wait()
        except BaseException as exc:  # noqa: BLE001 - told to the callers through `ready`, or ends a broken session
            self.broken = True
            if not self.ready.done():
                self.ready.set_exception(exc if isinstance(exc, Exception) else McpUnreachable("connection cancelled"))
        finally:
            self.broken = True
            if self.http is not None:
                with contextlib.suppress(Exception):
                    await self.http.aclose()

    def idle(self) -> bool:
        return self.in_use == 0 and time.monotonic() - self.last_used > self.idle_seconds

    async def close(self) -> None:
        self.closing.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, 5)
        if not self.task.done():
            self.task.cancel()


class McpConnections:
    def __init__(self, policy: AddressPolicy, *, connect_timeout: float, idle_seconds: float,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.idle_seconds = idle_seconds
        self.max_response_bytes = max_response_bytes
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._closing: set[asyncio.Task] = set()  # idle sessions being closed (kept referenced)
        self._lock = asyncio.Lock()

    def _open(self, target: Target, timeout: float) -> _Session:
        if target.transport == "stdio":
            command, *args = target.argv
            transport = capped_stdio_client(StdioServerParameters(command=command, args=args), self.max_response_bytes)
            return _Session(Client(transport, read_timeout_seconds=timeout, cache=None), self.idle_seconds)

        async def note_status(response: httpx2.Response) -> None:
            session.http_status = response.status_code

        http = httpx2.AsyncClient(headers=target.headers, timeout=httpx2.Timeout(timeout, connect=self.connect_timeout),
                                  event_hooks={"response": [note_status]}, transport=PinnedTransport(self.policy, self.max_response_bytes),
                                  trust_env=False)
        # The SDK's own limit on an event (1 MiB by default) is the same cap, so the setting alone decides.
        transport = streamable_http_client(target.url, http_client=http, max_sse_event_size=self.max_response_bytes)
        session = _Session(Client(transport, read_timeout_seconds=timeout, cache=None), self.idle_seconds, http)
        return session

    async def _session(self, target: Target, timeout: float) -> _Session:
        async with self._lock:
            for key, idle in [(k, s) for k, s in self._sessions.items() if s.idle() or s.broken or
                              (k[0] == target.server_id and k[1] != target.version)]:
                if self._sessions.get(key) is idle and idle.in_use == 0:
                    del self._sessions[key]
                    task = asyncio.create_task(idle.close())
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
            key = (target.server_id, target.version)
            session = self._sessions.get(key)
            if session is None or session.broken:
                if target.transport == "http":
                    await self.policy.check_url(target.url)  # BlockedAddress: refused before any connection
                session = self._sessions[key] = self._open(target, timeout)
            session.in_use += 1
        return session

    async def _use(self, target: Target, timeout: float, work) -> Any:
        session = await self._session(target, timeout)
        try:
            try:
                client = await asyncio.wait_for(asyncio.shield(session.ready), self.connect_timeout)
            except Exception as exc:
                session.broken = True
                raise McpUnreachable(_refusal(session.http_status) or failure_reason(exc)) from None
            try:
                return await asyncio.wait_for(work(client), timeout)
            except MCPError:
                if _refusal(session.http_status):  # refused at the HTTP level (credentials, a proxy)
                    session.broken = True
                    raise McpUnreachable(_refusal(session.http_status)) from None
                raise  # an error the server answered in MCP: the session itself is fine
            except TimeoutError:
                raise
            except Exception:
                session.broken = True  # the next call starts afresh
                raise
        finally:
            session.in_use -= 1
            session.last_used = time.monotonic()
            if session.broken and session.in_use == 0:
                async with self._lock:
                    if self._sessions.get((target.server_id, target.version)) is session:
                        del self._sessions[(target.server_id, target.version)]
                await session.close()

    async def list_tools(self, target: Target, timeout: float) -> list[McpToolInfo]:
        async def listing(client: Client) -> list[McpToolInfo]:
            tools, cursor = [], None
            for _ in range(50):  # pages
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        try:
            return await self._use(target, timeout, listing)
        except McpUnreachable:
            raise
        except TimeoutError:
            raise McpUnreachable(f"no answer to tools/list within {timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - whatever the SDK or the server raised, the admin reads why
            raise McpUnreachable(failure_reason(exc)) from None

    async def call_tool(self, target: Target, name: str, arguments: dict[str, Any], timeout: float) -> CallToolResult:
        return await self._use(target, timeout, lambda client: client.call_tool(name, arguments))

    async def forget(self, server_id: str) -> None:
        """Closes the server's sessions (it was changed or removed)."""
        async with self._lock:
            gone = [key for key in self._sessions if key[0] == server_id]
            sessions = [self._sessions.pop(key) for key in gone]
        for session in sessions:
            await session.close()

    async def aclose(self) -> None:
        async with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            await session.close()


def _refusal(status: int) -> str:
    if status in (401, 403):
        return f"the server refused the credentials (HTTP {status})"
    return f"the server answered HTTP {status}" if status >= 400 else ""


def failure_reason(exc: BaseException) -> str:
    """A short, secret-free description: the exception's kind and first line (never headers)."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return failure_reason(exc.exceptions[0])
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
