"""Vector storage behind one interface: Qdrant Edge in-process (embedded default) or a Qdrant
server through qdrant-client. Access control is part of every query's filter."""

from __future__ import annotations

from rag.settings import RagSettings
from rag.store.base import ChunkPoint, Scope, StoredHit, VectorStore, point_id


def open_store(settings: RagSettings, dimensions: int) -> VectorStore:
    if settings.qdrant_url:
        from rag.store.server import ServerStore

        return ServerStore.connect(settings, dimensions)
    from rag.store.edge import EdgeStore

    return EdgeStore.open(settings, dimensions)


__all__ = ["ChunkPoint", "Scope", "StoredHit", "VectorStore", "open_store", "point_id"]
