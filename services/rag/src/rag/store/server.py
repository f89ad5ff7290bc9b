"""A Qdrant server (or cluster) through qdrant-client: the Kubernetes deployment's backend.
`QDRANT_URL=:memory:` or `path:/dir` selects qdrant-client's local mode, which runs the same
code path without a server (slow; for tests on small data only)."""

from __future__ import annotations

from qdrant_client import AsyncQdrantClient, models

from rag.settings import RagSettings
from rag.store.base import DENSE, KEYWORD_FIELDS, SPARSE, ChunkPoint, Scope, StoredHit


def scope_filter(scope: Scope) -> models.Filter:
    mine = models.FieldCondition(key="owner_id", match=models.MatchValue(value=scope.user_id))
    access: models.Filter | models.FieldCondition = mine
    if scope.tenant_id:
        shared = models.Filter(must=[
            models.FieldCondition(key="tenant_id", match=models.MatchValue(value=scope.tenant_id)),
            models.FieldCondition(key="visibility", match=models.MatchValue(value="tenant")),
        ])
        access = models.Filter(should=[mine, shared])
    must: list = [access]
    if scope.collections:
        must.append(models.FieldCondition(key="collection", match=models.MatchAny(any=list(scope.collections))))
    if scope.document_ids:
        must.append(models.FieldCondition(key="document_id", match=models.MatchAny(any=list(scope.document_ids))))
    return models.Filter(must=must)


def _document(document_id: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))])


class ServerStore:
    backend = "qdrant-server"

    def __init__(self, client: AsyncQdrantClient, settings: RagSettings, dimensions: int) -> None:
        self._client = client
        self._collection = settings.collection
        self._dimensions = dimensions
        self._ensured = False

    @classmethod
    def connect(cls, settings: RagSettings, dimensions: int) -> ServerStore:
        url = settings.qdrant_url
        if url == ":memory:":
            client = AsyncQdrantClient(location=":memory:")
        elif url.startswith("path:"):
            client = AsyncQdrantClient(path=url[len("path:"):])
        else:
            client = AsyncQdrantClient(url=url, api_key=settings.qdrant_api_key or None, timeout=int(settings.qdrant_timeout_seconds))
        return cls(client, settings, dimensions)

    async def _ensure(self) -> None:
        if self._ensured:
            return
        if not await self._client.collection_exists(self._collection):
            await self._client.create_collection(
                self._collection,
                vectors_config={DENSE: models.VectorParams(size=self._dimensions, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            for name in KEYWORD_FIELDS:
                schema = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=name == "tenant_id")
                await self._client.create_payload_index(self._collection, name, field_schema=schema)
            await self._client.create_payload_index(self._collection, "chunk_index", field_schema=models.PayloadSchemaType.INTEGER)
        self._ensured = True

    def start_background(self) -> None:
        pass

    async def upsert(self, points: list[ChunkPoint]) -> None:
        await self._ensure()
        await self._client.upsert(self._collection, wait=True, points=[
            models.PointStruct(id=p.id, payload=p.payload, vector={
                DENSE: list(map(float, p.dense)),
                SPARSE: models.SparseVector(indices=p.sparse_indices, values=p.sparse_values),
            })
            for p in points
        ])

    async def count(self, document_id: str | None = None) -> int:
        await self._ensure()
        result = await self._client.count(self._collection, count_filter=_document(document_id) if document_id else None, exact=True)
        return result.count

    async def delete_document(self, document_id: str) -> int:
        before = await self.count(document_id)
        await self._client.delete(self._collection, points_selector=models.FilterSelector(filter=_document(document_id)), wait=True)
        return before

    async def delete_chunks_from(self, document_id: str, first_index: int) -> None:
        await self._ensure()
        stale = models.Filter(must=[
            models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id)),
            models.FieldCondition(key="chunk_index", range=models.Range(gte=first_index)),
        ])
        await self._client.delete(self._collection, points_selector=models.FilterSelector(filter=stale), wait=True)

    async def set_visibility(self, document_id: str, visibility: str) -> None:
        await self._ensure()
        await self._client.set_payload(self._collection, payload={"visibility": visibility},
                                       points=models.FilterSelector(filter=_document(document_id)), wait=True)

    async def query(self, dense, sparse, scope, limit, prefetch_limit, rrf_k) -> list[StoredHit]:
        await self._ensure()
        flt = scope_filter(scope)
        if sparse and sparse[0]:
            response = await self._client.query_points(
                self._collection,
                prefetch=[
                    models.Prefetch(query=list(dense), using=DENSE, limit=prefetch_limit, filter=flt),
                    models.Prefetch(query=models.SparseVector(indices=sparse[0], values=sparse[1]), using=SPARSE,
                                    limit=prefetch_limit, filter=flt),
                ],
                query=models.RrfQuery(rrf=models.Rrf(k=rrf_k)),
                query_filter=flt, limit=limit, with_payload=True, with_vectors=[DENSE],
            )
        else:
            response = await self._client.query_points(
                self._collection, query=list(dense), using=DENSE, query_filter=flt, limit=limit,
                with_payload=True, with_vectors=[DENSE],
            )
        return _hits(response.points)

    async def nearest(self, vector, using, scope, limit) -> list[StoredHit]:
        await self._ensure()
        query = models.SparseVector(indices=vector[0], values=vector[1]) if using == SPARSE else list(vector)
        response = await self._client.query_points(self._collection, query=query, using=using, query_filter=scope_filter(scope),
                                                   limit=limit, with_payload=True, with_vectors=[DENSE])
        return _hits(response.points)

    async def get(self, pid: str) -> dict | None:
        await self._ensure()
        records = await self._client.retrieve(self._collection, ids=[pid], with_payload=True, with_vectors=False)
        return dict(records[0].payload or {}) if records else None

    async def ready(self) -> bool:
        try:
            await self._client.get_collections()
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self._client.close()


def _hits(points) -> list[StoredHit]:
    import numpy as np

    hits = []
    for p in points:
        vector = p.vector.get(DENSE) if isinstance(p.vector, dict) else None
        hits.append(StoredHit(str(p.id), float(p.score), dict(p.payload or {}),
                              np.asarray(vector, dtype=np.float32) if vector is not None else None))
    return hits
