"""ingest-worker: the background jobs, as Celery tasks. Uploaded documents are parsed
(`parsing.py`), chunked (`chunking.py`), embedded by shared runners (`batching.py`) and indexed
through rag (`pipeline.py`); Celery beat asks the conversation service for retention purges.

Owns no tables: a document's status lives in rag's registry and every step is reported there.
Must not: write to Qdrant or any database itself (rag's IndexDocuments and UpsertChunks do), or
take anything but ids as task arguments; tasks are idempotent (point ids are derived from the
document and chunk), acknowledged late, one prefetched at a time.
"""
