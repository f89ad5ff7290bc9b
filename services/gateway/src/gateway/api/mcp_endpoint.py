"""The platform as an MCP server (streamable HTTP at `/mcp`, built with the official `mcp` SDK):
external agents search the knowledge base and list documents with the rights of the caller the
bearer token stands for, exactly as `/api/v1/search` and `/api/v1/documents` would answer them.

Authentication is the API's own (an API key, `cbk_…`, or an access token), with the same
request limits; the `documents:read` permission is required (a key needs the `documents:read`
scope). Refusals are the API's one JSON error shape with 401/403/429 before any MCP message is
read; a failure behind a tool (rag unavailable, a bad collection name) is the tool's error result
with a clear message, never a 500. Stateless and answered as JSON: any gateway replica serves
any request, nothing is kept between them."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from gateway import __version__
from gateway.api.deps import authenticate, caller_pb, require
from gateway.api.schemas.documents import DocumentList, SearchOut, document_out, is_collection_name, search_out
from gateway.api.schemas.common import pagination
from gateway.errors import error_response
from gateway.identity import roles
from gateway.security import Principal

PATH = "/mcp"


def _principal(ctx: Context) -> Principal:
    return ctx.request_context.request.state.principal


def _app_state(ctx: Context):
    return ctx.request_context.request.app.state


def _tool_error(error: AppError) -> ToolError:
    return ToolError(f"{error.code.value}: {error.message}")


def build_server() -> MCPServer:
    server = MCPServer("chatbot-platform", version=__version__, instructions=(
        "Search the organisation's knowledge base (the documents the caller may read) and list those documents."))

    @server.tool(description="Hybrid (keyword and semantic) search over the documents you may read; the best passages first, "
                             "each with its document, section and score.")
    async def search_knowledge_base(
        query: Annotated[str, Field(min_length=1, max_length=4000, description="what to look for, in plain words")],
        ctx: Context,
        top_k: Annotated[int, Field(ge=1, le=50, description="how many passages")] = 5,
        collections: Annotated[list[str], Field(max_length=20, description="only these collections (default: all)")] = [],  # noqa: B006
    ) -> SearchOut:
        if not query.strip():
            raise ToolError("query must not be blank")
        if not all(is_collection_name(c) for c in collections):
            raise ToolError("collections: names of 1-100 letters, digits, '.', '_' or '-'")
        state = _app_state(ctx)
        try:
            reply = await state.downstream.rag.Search(pb.SearchRequest(
                caller=caller_pb(_principal(ctx)), query=query, top_k=top_k, collections=collections,
            ), timeout=state.settings.call_timeout_seconds)
        except AppError as error:
            raise _tool_error(error) from None
        return search_out(reply)

    @server.tool(description="The documents you may read (yours and those shared with your organisation), newest first.")
    async def list_documents(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0,
        query: Annotated[str, Field(max_length=200, description="substring of the title or filename")] = "",
        collection: Annotated[str, Field(max_length=100)] = "",
    ) -> DocumentList:
        if collection and not is_collection_name(collection):
            raise ToolError("collection: 1-100 letters, digits, '.', '_' or '-'")
        state, principal = _app_state(ctx), _principal(ctx)
        try:
            reply = await state.downstream.rag.ListDocuments(pb.ListDocumentsRequest(
                caller=caller_pb(principal), page=common_pb2.PageRequest(limit=limit, offset=offset), collection=collection,
                query=query,
            ), timeout=state.settings.call_timeout_seconds)
        except AppError as error:
            raise _tool_error(error) from None
        return DocumentList(documents=[document_out(d, principal.user_id) for d in reply.documents], pagination=pagination(reply.page))

    return server


class McpEndpoint:
    """The ASGI app at /mcp: the caller authenticated and authorised, then the SDK's transport."""

    def __init__(self, max_body_bytes: int) -> None:
        self.server = build_server()
        # The bearer token is the credential; no cookie is read, so a browser page on another
        # origin cannot act for anyone here (the SDK's DNS-rebinding check is for cookie-less
        # local servers, and would refuse the gateway's real host names).
        self.server.streamable_http_app(
            stateless_http=True, json_response=True, max_request_body_size=max_body_bytes,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self.sessions = self.server.session_manager  # run() in the app's lifespan
        self._transport = StreamableHTTPASGIApp(self.sessions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AppError(ErrorCode.AUTHENTICATION_ERROR, "missing bearer token (an API key with the documents:read scope)")
            require(await authenticate(request, token.strip()), roles.DOCUMENTS_READ)  # sets request.state.principal
        except AppError as refused:
            await error_response(refused)(scope, receive, send)
            return
        await self._transport(scope, receive, send)
