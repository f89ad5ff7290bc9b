"""ingest-worker: Celery tasks for document ingestion."""
