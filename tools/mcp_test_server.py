"""A small, real MCP server for tests (built with the official `mcp` SDK, streamable HTTP on
loopback): the kind of server a tenant registers. With `--token`, every request must carry
`Authorization: Bearer <token>` (401 otherwise), so a test sees the credentials reach it.

Tools: `add` (two integers), `lookup_order` (a canned order by id; structured), `fail` (always
an error result), `slow` (sleeps), `big` (a text of `size` characters: an answer past a client's
size cap). `/calls` tells how many tool calls it served.

By default the server speaks the 2026 protocol: over HTTP every answer is one JSON body and no
session is kept. With `--legacy` it is a server of the handshake era, as most deployed servers
still are: sessions, requests to the client, and over HTTP answers in event streams (each
request's on a stream of its own, what the server says unasked on the session's long-lived GET
stream). It then also offers `chatter`: many small notifications before its answer (on the
request's stream, or with `standalone` on the session's), then a ping the client must answer,
traffic that passes a client's size cap only in total.

    python tools/mcp_test_server.py --port 8765 [--token secret] [--legacy]
    python tools/mcp_test_server.py --stdio [--legacy]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import anyio
import uvicorn
from mcp import types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import LATEST_HANDSHAKE_VERSION
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

ORDERS = {"A-1001": {"id": "A-1001", "status": "shipped", "total_eur": 42.5}}


def build_server(legacy: bool = False) -> tuple[MCPServer, dict]:
    server = MCPServer("test-tools")
    calls = {"count": 0}

    @server.tool(description="Adds two integers.")
    def add(a: int, b: int) -> int:
        calls["count"] += 1
        return a + b

    @server.tool(description="An order's status by its id.")
    def lookup_order(order_id: str) -> dict:
        calls["count"] += 1
        if order_id not in ORDERS:
            raise ToolError(f"no order {order_id}")
        return ORDERS[order_id]

    @server.tool(description="Always fails.")
    def fail() -> str:
        calls["count"] += 1
        raise ToolError("this tool always fails")

    @server.tool(description="Sleeps, then answers.")
    async def slow(seconds: float) -> str:
        calls["count"] += 1
        await asyncio.sleep(seconds)
        return "done"

    @server.tool(description="A text of `size` characters.")
    def big(size: int) -> str:
        calls["count"] += 1
        return "x" * size

    if not legacy:
        return server, calls

    # Asked for its versions (over HTTP), it names no 2026 one, as go-sdk's stateful default does,
    # so clients fall back to the handshake.
    lowlevel = server._lowlevel_server

    async def discover(ctx, _params: types.RequestParams) -> types.DiscoverResult:
        return types.DiscoverResult(supported_versions=[LATEST_HANDSHAKE_VERSION],
                                    capabilities=lowlevel.get_capabilities(protocol_version=ctx.protocol_version))

    lowlevel.add_request_handler("server/discover", types.RequestParams, discover)

    @server.tool(description="Sends `count` notifications of `size` characters each (on the request's own stream, or "
                              "with `standalone` on the session's), then pings the client and answers once it replied.")
    async def chatter(count: int, size: int, ctx: Context, standalone: bool = False) -> str:
        calls["count"] += 1
        related = None if standalone else ctx.request_context.request_id
        for i in range(count):
            uri = f"test://chatter/{i}/{'x' * size}"
            note = types.ResourceUpdatedNotification(params=types.ResourceUpdatedNotificationParams(uri=uri))
            await ctx.session.send_notification(note, related_request_id=related)
        # The ping travels the same way; a client that stopped reading that stream never answers it.
        metadata = ServerMessageMetadata(related_request_id=related)
        deadline = time.monotonic() + 10
        while True:
            try:
                await ctx.session.send_request(types.PingRequest(), types.EmptyResult, request_read_timeout_seconds=1.0,
                                               metadata=metadata)
                return f"sent {count}"
            except Exception:  # noqa: BLE001 - no stream to the client yet, or no answer: asked again
                if time.monotonic() > deadline:
                    raise ToolError("the client did not answer the ping") from None
                await asyncio.sleep(0.2)

    return server, calls


def build_app(token: str | None, legacy: bool = False) -> Starlette:
    server, calls = build_server(legacy)
    # Reached by name in some tests (a name the test resolves to loopback), as a remote server would be.
    mcp_app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=not legacy, json_response=not legacy,
                                         transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))

    class Guarded:  # an ASGI app (a plain function would be taken for a request handler)
        async def __call__(self, scope, receive, send) -> None:
            if token is not None and Request(scope).headers.get("authorization") != f"Bearer {token}":
                await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
                return
            await mcp_app(scope, receive, send)

    async def count(_request: Request) -> JSONResponse:
        return JSONResponse(calls)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async with server.session_manager.run():
            yield

    return Starlette(routes=[Route("/calls", count), Route("/mcp", Guarded(), methods=["GET", "POST", "DELETE"])], lifespan=lifespan)


@dataclass
class McpTestServer:
    url: str
    process: subprocess.Popen

    def calls(self) -> int:
        with urllib.request.urlopen(self.url.removesuffix("/mcp") + "/calls", timeout=5) as reply:
            import json

            return json.loads(reply.read())["count"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_mcp_server(token: str | None = None, legacy: bool = False) -> McpTestServer:
    from fleet import free_port

    port = free_port()
    args = [sys.executable, str(Path(__file__).resolve()), "--port", str(port)] + (["--token", token] if token else [])
    args += ["--legacy"] if legacy else []
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/calls", timeout=1).read()
            return McpTestServer(f"http://127.0.0.1:{port}/mcp", proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("MCP test server did not start")


async def serve_stdio_handshake(server: MCPServer) -> None:
    """Over stdio the first request settles the era: this loop serves the handshake only."""
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream), lowlevel.lifespan(lowlevel) as state:
        await serve_loop(lowlevel, read_stream, write_stream, lifespan_state=state,
                         init_options=lowlevel.create_initialization_options())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    parser.add_argument("--stdio", action="store_true", help="serve over stdin/stdout instead")
    parser.add_argument("--legacy", action="store_true", help="a server of the handshake era only")
    args = parser.parse_args()
    if args.stdio and args.legacy:
        anyio.run(serve_stdio_handshake, build_server(legacy=True)[0])
    elif args.stdio:
        build_server()[0].run("stdio")
    else:
        uvicorn.run(build_app(args.token, args.legacy), host="127.0.0.1", port=args.port, log_level="warning",
                    timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
