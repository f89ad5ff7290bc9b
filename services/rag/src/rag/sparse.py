"""Keyword vectors: BM25 term weights for chunks and unit weights for queries (the store applies
IDF at query time). Both sides must come from this one encoder, or their term ids would not meet.

Qdrant's BM25 model (its lowercasing, English stop words and stemmer, its term ids) weighs the
terms; the terms themselves come from `keywords`, which keeps what a question quotes exactly
whole beside its parts: identifiers (`jwt_secret_key`, `X-Process-Time`, `CONVERSATION_CACHE_TTL`),
URL paths (`/api/v1/chat`), versions and numbers with their units (`256mb`, `1.4s`, `3.11`).
Word tokenizers split these into common words and lose the one term that names the fact, or glue
them into a single term no question repeats (`TTLinteger86400Conversation`, a table whose cells
lost their spaces, is `ttl`, `integer`, `86400` and `conversation` here).
"""

from __future__ import annotations

import re
from functools import lru_cache

from qdrant_edge import Bm25, Bm25Config, TokenizerType

# A run of word characters and the punctuation that joins parts of one name, path or number.
_ATOM = re.compile(r"[\w$@]+(?:[-_./:+#@$][\w$@]+)*")
# Inside an atom: numbers (with decimals), capitalised and lower-case words, runs of capitals.
_PART = re.compile(r"\d+(?:[.,]\d+)*|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[^\W\d_]+")
_CAPITALS_THEN_LOWER = re.compile(r"(?<=_)([A-Z]{2,})([a-z]+)")


def keywords(text: str) -> list[str]:
    """The terms of `text`, in order: each word, and for a compound (an identifier, a path, a
    number with a unit) the compound itself followed by its parts."""
    terms: list[str] = []
    for match in _ATOM.finditer(text):
        atom = match.group()
        parts = _parts(atom)
        if len(parts) > 1:
            terms.append(atom.lower())
        terms.extend(parts)
    return terms


# A corpus repeats its words: each distinct one is split once (the rag service's process keeps
# the last 64k; the split of a word never changes).
@lru_cache(maxsize=65536)
def _parts(atom: str) -> tuple[str, ...]:
    parts = [p.lower() for p in _PART.findall(atom)]
    # "CACHE_TTLinteger" (a table's cells glued together): the part pattern reads capitals
    # before a lower-case word as an acronym and a capitalised word ("HTTPServer" -> "HTTP",
    # "Server"); after an underscore they end a constant's name, so that reading is added.
    for caps, lower in _CAPITALS_THEN_LOWER.findall(atom):
        parts += [caps.lower(), lower]
    return tuple(dict.fromkeys(parts))


class SparseEncoder:
    def __init__(self) -> None:
        # Whitespace: `keywords` has made the terms; Qdrant's model lowercases, drops stop words
        # and stems each one.
        self._bm25 = Bm25(Bm25Config(tokenizer=TokenizerType.Whitespace))

    def _terms(self, text: str) -> str:
        return " ".join(keywords(text))

    def document(self, text: str, context: tuple[str, ...] = ()) -> tuple[list[int], list[float]]:
        """`context`: where the passage sits (its document's title, its section path), indexed
        with it as the dense side embeds it, so a question naming the section finds the passage."""
        vector = self._bm25.embed_document(self._terms("\n".join([*(c for c in context if c), text])))
        return list(vector.indices), list(vector.values)

    def query(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._bm25.embed_query(self._terms(text))
        return list(vector.indices), list(vector.values)
