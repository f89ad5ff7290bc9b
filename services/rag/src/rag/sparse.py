"""Keyword vectors: BM25 term weights for chunks and unit weights for queries, from Qdrant's own
BM25 model (its tokenizer and stemmer; the store applies IDF at query time). Both sides must
come from this one encoder, or their term ids would not meet."""

from __future__ import annotations

from qdrant_edge import Bm25


class SparseEncoder:
    def __init__(self) -> None:
        self._bm25 = Bm25()

    def document(self, text: str, context: tuple[str, ...] = ()) -> tuple[list[int], list[float]]:
        """`context`: where the passage sits (its document's title, its section path), indexed
        with it as the dense side embeds it, so a question naming the section finds the passage."""
        vector = self._bm25.embed_document("\n".join([*(c for c in context if c), text]))
        return list(vector.indices), list(vector.values)

    def query(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._bm25.embed_query(text)
        return list(vector.indices), list(vector.values)
