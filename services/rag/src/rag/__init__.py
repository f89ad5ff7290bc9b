"""rag: chunk storage and access-filtered search over Qdrant."""
