"""A small, real MCP server for tests (built with the official `mcp` SDK, streamable HTTP on
loopback): the kind of server a tenant registers. With `--token`, every request must carry
`Authorization: Bearer <token>` (401 otherwise), so a test sees the credentials reach it.

Tools: `add` (two integers), `lookup_order` (a canned order by id; structured), `fail` (always
an error result), `slow` (sleeps), `big` (a text of `size` characters: an answer past a client's
size cap). `/calls` tells how many tool calls it served.

    python tools/mcp_test_server.py --port 8765 [--token secret]
    python tools/mcp_test_server.py --stdio
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

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

ORDERS = {"A-1001": {"id": "A-1001", "status": "shipped", "total_eur": 42.5}}


def build_server() -> tuple[MCPServer, dict]:
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

    return server, calls


def build_app(token: str | None) -> Starlette:
    server, calls = build_server()
    # Reached by name in some tests (a name the test resolves to loopback), as a remote server would be.
    mcp_app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
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


def start_mcp_server(token: str | None = None) -> McpTestServer:
    from fleet import free_port

    port = free_port()
    args = [sys.executable, str(Path(__file__).resolve()), "--port", str(port)] + (["--token", token] if token else [])
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    parser.add_argument("--stdio", action="store_true", help="serve over stdin/stdout instead")
    args = parser.parse_args()
    if args.stdio:
        build_server()[0].run("stdio")
        return
    uvicorn.run(build_app(args.token), host="127.0.0.1", port=args.port, log_level="warning", timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
