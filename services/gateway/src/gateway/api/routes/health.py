"""Liveness, readiness (every downstream service and the database) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatbot_common import db
from chatbot_common.grpc_client import check_health
from chatbot_common.timeutil import iso
from gateway import __version__

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the gateway process answers")
async def health() -> dict:
    return {"status": "healthy", "timestamp": iso(datetime.now(UTC)), "version": __version__}


@router.get("/ready", summary="Readiness: downstream services and databases; 503 names what is down")
async def ready(request: Request) -> JSONResponse:
    downstream = request.app.state.downstream
    names = list(downstream.channels)
    results = await asyncio.gather(
        db.ping(request.app.state.engine), *(check_health(downstream.channels[n]) for n in names)
    )
    services = {"database": "connected" if results[0] else "unreachable"}
    services.update({name: status.lower() for name, status in zip(names, results[1:], strict=True)})
    down = sorted(name for name, status in services.items() if status not in ("connected", "serving"))
    body = {"ready": not down, "services": services, "down": down, "timestamp": iso(datetime.now(UTC))}
    return JSONResponse(body, status_code=200 if not down else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
