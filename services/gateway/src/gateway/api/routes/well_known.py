"""Public keys for verifying the gateway's tokens (JWKS), for other services and replicas."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="The public keys that verify access and refresh tokens")
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.issuer.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})
