"""The knowledge base's files on their way in and out: an upload's (or a storage event's) bytes
go to the blob store, the documents are registered with the rag service and enqueued for the
ingest worker; if a step fails, what the earlier ones did is undone (no blob without a record, no
record without a task). Deleting a document removes its blob too.

Owns the blob writes and the ingestion queue. Must not parse HTTP (routes hand it names, bytes
and the caller) nor touch the rag service's data other than through its gRPC calls.
"""
