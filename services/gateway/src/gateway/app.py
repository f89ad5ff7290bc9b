"""The FastAPI application: built by `create_app(settings)`, nothing created at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from chatbot_common import db, tracing
from gateway import __version__, audit, webapp
from gateway.answers import open_buffers
from gateway.answers.relay import Relays
from gateway.api.routes import runs
from gateway.api.routes import evaluations
from gateway.api.routes import (
    admin, auth, chat, conversations, documents, health, invitations, mcp_servers, me, memory, oidc, openai_compat, upload_events,
    usage, well_known, ws,
)
from gateway.api.mcp_endpoint import PATH as MCP_PATH, McpEndpoint
from gateway.errors import install_error_handlers
from gateway.grpc_clients import Downstream
from chatbot_common.blobstore import open_blob_store
from gateway.middleware import GatewayMiddleware
from gateway.identity.accounts import Accounts
from gateway.identity.oidc import OidcVerifier
from gateway.identity.oidc_login import OidcLogin
from gateway.identity.tenants import TenantPolicies
from gateway.keys import KeyRing
from gateway.limits.limiter import Limits, open_store
from gateway.mcp_servers import McpServers
from gateway.privacy import Privacy
from gateway.security import PasswordHashing, TokenIssuer
from gateway.settings import GatewaySettings
from gateway.uploads.files import Uploads
from gateway.uploads.queue import IngestQueue


def build_routes(app: FastAPI) -> None:
    """FastAPI builds the routes of an included router (their dependencies, body and response
    models) when the first request reaches that router: 0.1-0.3 s, paid by whichever request comes
    first (the first upload, say). Built here at start instead. A FastAPI without this lazy
    step (no `effective_candidates` on its included routers) has nothing to build."""

    def build(branch) -> None:
        for candidate in branch.effective_candidates():
            if hasattr(candidate, "effective_candidates"):
                build(candidate)
        if hasattr(branch, "effective_low_priority_routes"):
            branch.effective_low_priority_routes()

    for route in app.router.routes:
        if hasattr(route, "effective_candidates"):
            build(route)


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.create_engine(settings.database_url, pool_size=settings.database_pool_size)
        build_routes(app)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = db.session_factory(engine)
        app.state.downstream = Downstream.open(settings)
        app.state.ingest = IngestQueue(settings)
        app.state.blobs = open_blob_store(settings.blob_store_path())
        app.state.issuer = TokenIssuer(
            KeyRing(settings.jwt_keys_dir, create=settings.key_ring_generates()), settings.jwt_issuer, settings.jwt_audience,
            settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds,
            session_max_seconds=max(1, round(settings.session_max_days * 86_400)),
        )
        app.state.oidc = OidcVerifier(settings.oidc_issuer, settings.oidc_jwks_url, settings.oidc_audience,
                                      settings.oidc_algorithms, cooldown_seconds=settings.oidc_jwks_cooldown_seconds,
                                      ) if settings.oidc_issuer else None
        app.state.accounts = Accounts(app.state.sessions, settings.account_recheck_seconds)
        app.state.oidc_login = OidcLogin(settings, app.state.oidc, app.state.sessions, app.state.accounts, app.state.issuer,
                                         ) if settings.oidc_sign_in_enabled() else None
        app.state.tenants = TenantPolicies(app.state.sessions, settings.account_recheck_seconds)
        app.state.limits = Limits(settings, open_store(settings.limits_redis_url, settings.limits_redis_timeout_seconds), app.state.tenants)
        app.state.relays = Relays(open_buffers(settings))
        app.state.passwords = PasswordHashing(settings.password_hash_workers, settings.password_hash_queue, settings.password_hash_nice)
        app.state.uploads = Uploads(app.state.downstream, app.state.blobs, app.state.ingest, app.state.sessions,
                                    settings.call_timeout_seconds)
        app.state.privacy = Privacy(settings=settings, sessions=app.state.sessions, downstream=app.state.downstream,
                                    blobs=app.state.blobs, limits=app.state.limits, accounts=app.state.accounts,
                                    issuer=app.state.issuer, passwords=app.state.passwords)
        app.state.mcp_servers = McpServers(app.state.downstream, app.state.sessions, settings.call_timeout_seconds,
                                           settings.mcp_discovery_timeout_seconds)
        outbox = audit.Outbox(settings.audit_outbox_dir)
        audit.attach(app.state.sessions, outbox)
        drainer = asyncio.create_task(audit.drain_forever(app.state.sessions, outbox, settings.audit_outbox_retry_seconds))
        try:
            async with mcp_endpoint.sessions.run():
                yield
        finally:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
            with contextlib.suppress(Exception):  # a last chance for entries that waited (the next start retries them)
                await outbox.drain(app.state.sessions)
            app.state.passwords.close()
            if app.state.oidc_login is not None:
                await app.state.oidc_login.close()
            # Before the channels: the answers in flight end on them (or are stopped after the grace).
            await app.state.relays.close(settings.shutdown_grace_seconds)
            await app.state.downstream.close()
            await app.state.limits.store.close()
            app.state.ingest.close()
            await engine.dispose()

    app = FastAPI(
        title="Chatbot platform API",
        version=__version__,
        description="Public REST API (`/api/v1`) and OpenAI-compatible API (`/v1`). Errors use one shape: "
        '`{"error": {"code", "message", "details"}}`.',
        lifespan=lifespan,
        docs_url=None,  # served by gateway.webapp from local files (no CDN)
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    install_error_handlers(app)
    if tracing.enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="api/v1/health,api/v1/ready,api/v1/metrics")
    # The OpenAI-compatible routes first: partners' streaming calls are matched with the fewest checks.
    app.include_router(openai_compat.router)
    api = APIRouter(prefix="/api/v1")
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(oidc.router)
    api.include_router(me.router)
    api.include_router(admin.router)
    api.include_router(mcp_servers.router)
    api.include_router(invitations.router)
    api.include_router(usage.router)
    api.include_router(chat.router)
    api.include_router(runs.router)
    api.include_router(conversations.router)
    api.include_router(memory.router)
    api.include_router(evaluations.router)
    api.include_router(documents.router)
    api.include_router(upload_events.router)
    app.include_router(api)
    # The platform's MCP server for external agents (before the web app, which answers what no route matched).
    mcp_endpoint = McpEndpoint(settings.max_body_bytes)
    app.add_route(MCP_PATH, mcp_endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    app.include_router(well_known.router)
    app.include_router(ws.router)
    webapp.install(app, settings.web_dir, docs_url="/api/v1/docs")
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"], expose_headers=["X-Conversation-Id", "X-Request-Id"],
        )
    app.add_middleware(GatewayMiddleware, max_body_bytes=settings.max_body_bytes, upload_body_bytes=settings.max_upload_request_bytes,
                       hsts=settings.hsts)
    return app
