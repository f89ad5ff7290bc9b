"""Batch ingestion from storage events: an object store (or a watcher of a mounted directory)
posts a batch of object-created events, signed with HMAC-SHA256, and each file under the
configured ingest directory is enqueued like an upload, as the configured owner's document.

Signature: header `X-Signature: sha256=<hex of HMAC(secret, "<X-Timestamp>." + raw body)>`,
with `X-Timestamp` in Unix seconds no older than `upload_event_max_age_seconds`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot.common.v1 import common_pb2
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.filetypes import UnsupportedFile, sniff
from chatbot_common.tasks import MAX_TASK_DOCUMENTS
from gateway.grpc_clients import account_caller
from gateway.identity import users
from gateway.uploads.files import File, Registered, Uploads, display_name

WINDOW_BYTES = 64 * 1024 * 1024  # files of a batch held in memory at once, at most


@dataclass(frozen=True)
class StoredObject:
    key: str  # path under the ingest directory
    collection: str
    visibility: str


@dataclass
class Outcome:
    key: str
    registered: Registered | None = None
    error: str | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check_signature(secret: str, max_age_seconds: int, signature: str | None, timestamp: str | None, body: bytes) -> None:
    if not signature or not timestamp or not timestamp.isdigit():
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "X-Signature and X-Timestamp are required")
    if abs(time.time() - int(timestamp)) > max_age_seconds:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "the event batch is too old or from the future")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "bad signature")


def resolve_key(root: Path, key: str) -> Path:
    """The file for `key`, which must stay inside `root` (no `..`, no absolute path, no symlink out)."""
    if key.startswith("/") or "\\" in key or "\x00" in key or any(part in ("..", "") for part in key.split("/")):
        raise ValueError("key must be a relative path without '..'")
    root = root.resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise ValueError("key points outside the ingest directory")
    return path


def _read(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise ValueError("no such file under the ingest directory")
    if path.stat().st_size > limit:
        raise ValueError(f"file over the {limit}-byte limit")
    data = path.read_bytes()
    if not data:
        raise ValueError("the file is empty")
    return data


async def ingest(uploads: Uploads, sessions: async_sessionmaker, *, owner_email: str, root: Path, max_bytes: int,
                 objects: Sequence[StoredObject], request_id: str) -> list[Outcome]:
    """One outcome per object that was looked at, in order: its document, or why it was refused."""
    async with sessions() as session:
        owner = await users.by_email(session, owner_email.lower())
    if owner is None or not owner.is_active:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the configured owner of event uploads does not exist")
    window = _Window(uploads, account_caller(owner), request_id)
    outcomes: list[Outcome | None] = [None] * len(objects)
    for index, stored in enumerate(objects):
        try:
            path = resolve_key(root, stored.key)
            data = await asyncio.to_thread(_read, path, max_bytes)
            name = display_name(path.name)
            kind = sniff(data, name)
        except (ValueError, OSError) as exc:  # UnsupportedFile is a ValueError
            reason = str(exc) if isinstance(exc, (ValueError, UnsupportedFile)) else "the file cannot be read"
            outcomes[index] = Outcome(stored.key, error=reason)
            continue
        if not window.fits(stored, len(data)):
            await window.flush(objects, outcomes)
        window.add(index, stored, (name, data, kind.content_type))
    await window.flush(objects, outcomes)
    return [o for o in outcomes if o]


class _Window:
    """Files read from consecutive events, registered with one call and enqueued as one task
    (the same collection and visibility, at most MAX_TASK_DOCUMENTS files and WINDOW_BYTES)."""

    def __init__(self, uploads: Uploads, caller: common_pb2.Caller, request_id: str) -> None:
        self.uploads, self.caller, self.request_id = uploads, caller, request_id
        self.items: list[tuple[int, File]] = []
        self.target: tuple[str, str] | None = None
        self.size = 0

    def fits(self, stored: StoredObject, size: int) -> bool:
        return not self.items or (self.target == (stored.collection, stored.visibility)
                                  and len(self.items) < MAX_TASK_DOCUMENTS and self.size + size <= WINDOW_BYTES)

    def add(self, index: int, stored: StoredObject, file: File) -> None:
        self.items.append((index, file))
        self.target = (stored.collection, stored.visibility)
        self.size += len(file[1])

    async def flush(self, objects: Sequence[StoredObject], outcomes: list[Outcome | None]) -> None:
        if not self.items:
            return
        (collection, visibility), items = self.target, self.items
        self.items, self.target, self.size = [], None, 0
        registered: list[Registered | None]
        try:
            registered = list(await self.uploads.register(self.caller, [f for _, f in items], collection=collection,
                                                          visibility=visibility))
        except AppError as exc:
            if exc.code != ErrorCode.CONFLICT:
                raise  # the registry is unreachable: the sender should deliver the batch again
            # One file the registry refuses (its earlier copy still being deleted) must not
            # refuse the others: one by one, each with its own answer.
            registered = []
            for index, file in items:
                try:
                    registered += await self.uploads.register(self.caller, [file], collection=collection, visibility=visibility)
                except AppError as one:
                    if one.code != ErrorCode.CONFLICT:
                        raise
                    registered.append(None)
                    outcomes[index] = Outcome(objects[index].key, error=one.message)
        await self.uploads.enqueue(self.caller, [r for r in registered if r is not None], self.request_id)
        for (index, _), one in zip(items, registered, strict=True):
            if one is not None:
                outcomes[index] = Outcome(objects[index].key, registered=one)
