"""Batch ingestion from storage events: an object store (or a watcher of a mounted directory)
posts a batch of object-created events, signed with HMAC-SHA256, and each file under the
configured ingest directory is enqueued like an upload.

Signature: header `X-Signature: sha256=<hex of HMAC(secret, "<X-Timestamp>." + raw body)>`,
with `X-Timestamp` in Unix seconds no older than `upload_event_max_age_seconds`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from chatbot.common.v1 import common_pb2
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.filetypes import UnsupportedFile, sniff
from gateway.api.deps import DownstreamDep, SessionDep, SettingsDep
from gateway.api.routes.documents import Collection, UploadedDocument, display_name, ingest_bytes
from gateway.models import User

router = APIRouter(tags=["documents"])


class ObjectCreated(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=1, max_length=1024, description="path under the configured ingest directory")
    size: int | None = Field(None, ge=0)
    collection: Collection = "default"
    visibility: Literal["private", "tenant"] = "private"


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[ObjectCreated] = Field(min_length=1, max_length=1000)


class EventResult(BaseModel):
    key: str
    document: UploadedDocument | None = None
    error: str | None = None


class EventBatchOut(BaseModel):
    accepted: int
    rejected: int
    results: list[EventResult]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def resolve_key(root: Path, key: str) -> Path:
    """The file for `key`, which must stay inside `root` (no `..`, no absolute path, no symlink out)."""
    if key.startswith("/") or "\\" in key or "\x00" in key or any(part in ("..", "") for part in key.split("/")):
        raise ValueError("key must be a relative path without '..'")
    root = root.resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise ValueError("key points outside the ingest directory")
    return path


@router.post("/ingest/events", status_code=status.HTTP_202_ACCEPTED, response_model=EventBatchOut,
             summary="Signed batch of object-created events under the ingest directory")
async def upload_events(
    request: Request,
    settings: SettingsDep,
    downstream: DownstreamDep,
    session: SessionDep,
    x_signature: Annotated[str | None, Header()] = None,
    x_timestamp: Annotated[str | None, Header()] = None,
) -> EventBatchOut:
    if settings.upload_event_secret is None or settings.ingest_dir is None or not settings.upload_event_owner_email:
        raise AppError(ErrorCode.NOT_FOUND, "upload events are not enabled on this gateway")
    body = await request.body()
    if not x_signature or not x_timestamp or not x_timestamp.isdigit():
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "X-Signature and X-Timestamp are required")
    if abs(time.time() - int(x_timestamp)) > settings.upload_event_max_age_seconds:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "the event batch is too old or from the future")
    expected = sign(settings.upload_event_secret.get_secret_value(), x_timestamp, body)
    if not hmac.compare_digest(expected, x_signature):
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "bad signature")
    try:
        batch = EventBatch.model_validate_json(body)
    except ValidationError as exc:
        raise AppError(ErrorCode.VALIDATION_ERROR, "invalid event batch",
                       {"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]}) from None
    owner = await session.scalar(select(User).where(User.email == settings.upload_event_owner_email.lower()))
    if owner is None or not owner.is_active:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the configured owner of event uploads does not exist")
    caller = common_pb2.Caller(user_id=owner.id, tenant_id=owner.tenant_id, roles=[owner.role])
    results: list[EventResult] = []
    for event in batch.events:
        try:
            path = resolve_key(settings.ingest_dir, event.key)
            data = await asyncio.to_thread(_read, path, settings.max_upload_bytes)
            name = display_name(path.name)
            kind = sniff(data, name)
            document = await ingest_bytes(
                downstream, request.app.state.blobs, request.app.state.ingest, caller, data=data, name=name,
                content_type=kind.content_type, collection=event.collection, visibility=event.visibility,
                call_timeout=settings.call_timeout_seconds, request_id=request.state.request_id,
            )
            results.append(EventResult(key=event.key, document=document))
        except (ValueError, OSError) as exc:  # UnsupportedFile is a ValueError
            reason = str(exc) if isinstance(exc, (ValueError, UnsupportedFile)) else "the file cannot be read"
            results.append(EventResult(key=event.key, error=reason))
    accepted = sum(1 for r in results if r.document)
    return EventBatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)


def _read(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise ValueError("no such file under the ingest directory")
    if path.stat().st_size > limit:
        raise ValueError(f"file over the {limit}-byte limit")
    data = path.read_bytes()
    if not data:
        raise ValueError("the file is empty")
    return data
