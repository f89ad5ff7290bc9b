from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

DENSE, SPARSE = "dense", "sparse"
# Payload fields with an index: every access filter and every per-document operation uses them.
KEYWORD_FIELDS = ("owner_id", "tenant_id", "visibility", "document_id", "collection")
_NAMESPACE = uuid.UUID("6b1f8d1e-3c55-4b8e-9a57-7f0a3e2c9d10")


def point_id(document_id: str, chunk_index: int) -> str:
    """Derived from the document and the chunk, so a redelivered task overwrites, never duplicates."""
    return str(uuid.uuid5(_NAMESPACE, f"{document_id}/{chunk_index}"))


@dataclass
class ChunkPoint:
    id: str
    dense: list[float]
    sparse_indices: list[int]
    sparse_values: list[float]
    payload: dict


@dataclass(frozen=True)
class Scope:
    """Whose query this is. Translated into the backend's filter, never applied after retrieval."""

    user_id: str
    tenant_id: str
    collections: tuple[str, ...] = ()
    document_ids: tuple[str, ...] = ()


@dataclass
class StoredHit:
    id: str
    rank_score: float
    payload: dict
    dense: np.ndarray | None = field(default=None, repr=False)


class VectorStore(Protocol):
    backend: str

    async def upsert(self, points: list[ChunkPoint]) -> None: ...
    async def delete_document(self, document_id: str) -> int: ...
    async def delete_chunks_from(self, document_id: str, first_index: int) -> None: ...
    async def set_visibility(self, document_id: str, visibility: str) -> None: ...
    async def query(
        self, dense: list[float], sparse: tuple[list[int], list[float]] | None, scope: Scope, limit: int, prefetch_limit: int,
        rrf_k: int,
    ) -> list[StoredHit]: ...
    async def nearest(self, vector: list[float] | tuple[list[int], list[float]], using: str, scope: Scope,
                      limit: int) -> list[StoredHit]: ...
    async def get(self, pid: str) -> dict | None: ...
    async def count(self, document_id: str | None = None) -> int: ...
    async def ready(self) -> bool: ...
    async def close(self) -> None: ...
