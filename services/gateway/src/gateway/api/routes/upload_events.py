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
from chatbot_common.tasks import MAX_TASK_DOCUMENTS
from gateway.api.deps import DownstreamDep, SessionDep, SettingsDep
from gateway.api.routes.documents import Collection, UploadedDocument, display_name, enqueue_new, register_files
from gateway.models import User

router = APIRouter(tags=["documents"])
WINDOW_BYTES = 64 * 1024 * 1024  # files of a batch held in memory at once, at most


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
    window = _Window(downstream, request.app.state.blobs, request.app.state.ingest, caller, settings.call_timeout_seconds,
                  request.state.request_id)
    results: list[EventResult | None] = [None] * len(batch.events)
    for index, event in enumerate(batch.events):
        try:
            path = resolve_key(settings.ingest_dir, event.key)
            data = await asyncio.to_thread(_read, path, settings.max_upload_bytes)
            name = display_name(path.name)
            kind = sniff(data, name)
        except (ValueError, OSError) as exc:  # UnsupportedFile is a ValueError
            reason = str(exc) if isinstance(exc, (ValueError, UnsupportedFile)) else "the file cannot be read"
            results[index] = EventResult(key=event.key, error=reason)
            continue
        if not window.fits(event, len(data)):
            await window.flush(batch.events, results)
        window.add(index, event, (name, data, kind.content_type))
    await window.flush(batch.events, results)
    accepted = sum(1 for r in results if r and r.document)
    return EventBatchOut(accepted=accepted, rejected=len(results) - accepted, results=[r for r in results if r])


class _Window:
    """Files read from consecutive events, registered with one call and enqueued as one task
    (the same collection and visibility, at most MAX_TASK_DOCUMENTS files and WINDOW_BYTES)."""

    def __init__(self, downstream, blobs, queue, caller: common_pb2.Caller, call_timeout: float, request_id: str) -> None:
        self.downstream, self.blobs, self.queue, self.caller = downstream, blobs, queue, caller
        self.call_timeout, self.request_id = call_timeout, request_id
        self.items: list[tuple[int, tuple[str, bytes, str]]] = []
        self.target: tuple[str, str] | None = None
        self.size = 0

    def fits(self, event: ObjectCreated, size: int) -> bool:
        return not self.items or (self.target == (event.collection, event.visibility)
                                  and len(self.items) < MAX_TASK_DOCUMENTS and self.size + size <= WINDOW_BYTES)

    def add(self, index: int, event: ObjectCreated, file: tuple[str, bytes, str]) -> None:
        self.items.append((index, file))
        self.target = (event.collection, event.visibility)
        self.size += len(file[1])

    async def flush(self, events: list[ObjectCreated], results: list[EventResult | None]) -> None:
        if not self.items:
            return
        (collection, visibility), items = self.target, self.items
        self.items, self.target, self.size = [], None, 0
        try:
            registered = await register_files(self.downstream, self.blobs, self.caller, [f for _, f in items],
                                              collection=collection, visibility=visibility, call_timeout=self.call_timeout)
        except AppError as exc:
            if exc.code != ErrorCode.CONFLICT:
                raise  # the registry is unreachable: the sender should deliver the batch again
            # One file the registry refuses (its earlier copy still being deleted) must not
            # refuse the others: one by one, each with its own answer.
            registered = []
            for index, file in items:
                try:
                    registered += await register_files(self.downstream, self.blobs, self.caller, [file], collection=collection,
                                                       visibility=visibility, call_timeout=self.call_timeout)
                except AppError as one:
                    if one.code != ErrorCode.CONFLICT:
                        raise
                    registered.append((None, False))
                    results[index] = EventResult(key=events[index].key, error=one.message)
        await enqueue_new(self.downstream, self.blobs, self.queue, self.caller,
                          [d.id for d, created in registered if d is not None and created],
                          call_timeout=self.call_timeout, request_id=self.request_id)
        for (index, _), (document, _) in zip(items, registered, strict=True):
            if document is not None:
                results[index] = EventResult(key=events[index].key, document=document)


def _read(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise ValueError("no such file under the ingest directory")
    if path.stat().st_size > limit:
        raise ValueError(f"file over the {limit}-byte limit")
    data = path.read_bytes()
    if not data:
        raise ValueError("the file is empty")
    return data
