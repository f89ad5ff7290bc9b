"""The rag service's domain modules on their real storage (the registry on SQLite, vectors in
Qdrant Edge, both under tmp_path) without a server and without loading the ONNX model: the
embedder is a bag of words hashed into a few dimensions, so texts sharing words are close."""

from __future__ import annotations

import asyncio
import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import rag
from chatbot_common import db
from chatbot_common.ids import new_id
from rag.documents import Documents, NewDocument
from rag.indexing import AttemptEnd, Batch, ChunkIn, Indexer
from rag.models import Document
from rag.registry import Reader, Registry
from rag.resources import Resources
from rag.retrieval import Search
from rag.settings import RagSettings

class WordEmbedder:
    model_id = "hashed-words:256"
    dimensions = 256

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, zlib.crc32(word.encode()) % self.dimensions] += 1.0
            norm = np.linalg.norm(vectors[row])
            if norm:
                vectors[row] /= norm
        return vectors


@dataclass
class Rag:
    alice = Reader("usr_alice", "acme")
    bob = Reader("usr_bob", "acme")  # Alice's tenant
    eve = Reader("usr_eve", "other")

    settings: RagSettings
    registry: Registry
    resources: Resources
    documents: Documents
    indexer: Indexer
    search: Search
    embedder: WordEmbedder
    model_loads: list

    async def upload(self, owner: Reader, content: str, *, visibility: str = "private", collection: str = "default") -> Document:
        [(doc, _)] = await self.documents.register([NewDocument(
            owner, filename="policy.md", title="Policy", content_type="text/markdown", size_bytes=len(content),
            sha256=hashlib.sha256(content.encode()).hexdigest(), blob_key=new_id("doc"),
            collection=collection, visibility=visibility)])
        return doc

    def batch(self, doc: Document, texts: list[str], *, first_index: int = 0, end: AttemptEnd | None = None) -> Batch:
        vectors = self.embedder.encode(texts)
        chunks = [ChunkIn(first_index + i, text, vector.tolist(), section=f"Part {first_index + i}")
                  for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))]
        return Batch(doc.id, self.embedder.model_id, chunks, end)

    async def index(self, doc: Document, texts: list[str]) -> Document:
        [claim] = await self.indexer.claim([doc.id], time_limit_seconds=60, max_attempts=3, takeover=False)
        assert claim.proceed, claim.reason
        _, finished = await self.indexer.upsert(self.batch(doc, texts, end=AttemptEnd(success=True, chunk_count=len(texts))))
        return finished


@pytest.fixture
async def parts(tmp_path: Path):
    # A threshold low enough for hashed words; the optimizer never runs during a test.
    settings = RagSettings(var_dir=tmp_path, score_threshold=0.2, optimize_after_points=10**6)
    migrations = Path(rag.__file__).parent / "migrations"
    await asyncio.to_thread(db.upgrade_to_head, migrations, db.normalize_url(settings.database_url))
    engine = db.create_engine(settings.database_url)
    registry = Registry(db.session_factory(engine))
    embedder, loads = WordEmbedder(), []

    def load() -> WordEmbedder:
        loads.append(embedder)
        return embedder

    resources = Resources(settings, load_embedder=load)
    yield Rag(settings, registry, resources, Documents(registry, resources), Indexer(registry, resources),
              Search(registry, resources, settings), embedder, loads)
    await resources.close()
    await engine.dispose()
