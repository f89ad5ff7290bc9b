"""Where uploaded bytes live: a local directory by default (a mounted volume in Kubernetes),
behind a small interface so an object store can take its place.

Keys are chosen by the fleet (a document id), never by a client: a key that is not a plain
identifier is refused, so nothing is ever written outside the store's root.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[a-z0-9][a-z0-9_]{2,127}$")


class BlobNotFound(KeyError):
    pass


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> bool: ...
    def exists(self, key: str) -> bool: ...


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError("invalid blob key")
    return key


class LocalBlobStore:
    """Files under `root/<2-char shard>/<key>`, written atomically (temporary file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        check_key(key)
        path = (self.root / key[-2:] / key).resolve()
        if self.root not in path.parents:
            raise ValueError("invalid blob key")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def delete(self, key: str) -> bool:
        try:
            self.path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def exists(self, key: str) -> bool:
        return self.path(key).exists()


def open_blob_store(url_or_path: str | Path) -> BlobStore:
    """`file:///dir` or a plain path: a local directory (the only backend so far)."""
    text = str(url_or_path)
    if text.startswith("file://"):
        text = text[len("file://"):]
    return LocalBlobStore(Path(text))
