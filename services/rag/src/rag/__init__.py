"""rag: the knowledge base. The document registry, chunk storage and access-filtered hybrid
search; the only client of Qdrant.

Where things live:
- `servicer.py` maps gRPC requests to the domain calls below and their results back; nothing
  else (no rules, no `abort`: a domain `AppError` becomes a status in the shared interceptor).
- `documents.py` documents as users see them: registering an upload, reading, listing,
  deleting (record and vectors), a user's export and erasure.
- `indexing.py` the worker's side: claims, chunks turned into stored points (payload, keyword
  vector), the end of each attempt, stale attempts; and why a delete racing a write wins.
- `retrieval.py` a question turned into ranked passages the caller may read (dense + BM25,
  fusion, threshold, de-duplication, optional reranker); the passage a citation points at.
- `sparse.py` the BM25 keyword vectors shared by indexing and retrieval.
- `registry.py` + `models.py` the documents table: access rule in SQL, status transitions,
  one transaction per call. `store/` the vectors: Qdrant Edge in-process or a Qdrant server,
  the access filter in every query.
- `resources.py` loads the embedding model and opens the store once, in the background.
- `server.py`, `settings.py`, `__main__.py`, `migrations/` wiring, configuration, start-up.

Domain modules (everything but `servicer.py` and `server.py`) never import grpc or the
generated stubs; only `registry.py` and `models.py` touch SQL, only `store/` reads or writes vectors.
"""
