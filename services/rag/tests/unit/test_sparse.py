"""The keyword side: identifiers, paths and numbers with units are terms of their own, beside
their parts, so a question that names one exactly meets the passage that holds it."""

import pytest

from rag.sparse import SparseEncoder, keywords


@pytest.mark.parametrize(("text", "whole", "parts"), [
    ("jwt_secret_key: SecretStr", ["jwt_secret_key"], ["jwt", "secret", "key", "secretstr", "str"]),
    ('response.headers["X-Process-Time"]', ["x-process-time", "response.headers"], ["process", "time", "headers"]),
    ("POST /api/v1/chat/stream", ["api/v1/chat/stream"], ["api", "v", "1", "chat", "stream"]),
    ("--maxmemory 256mb", ["256mb"], ["maxmemory", "256", "mb"]),
    ("'typing-dot 1.4s infinite'", ["typing-dot", "1.4s"], ["typing", "dot", "1.4", "s", "infinite"]),
    ("FROM python:3.11-slim-bookworm", ["python:3.11-slim-bookworm"], ["python", "3.11", "slim", "bookworm"]),
    ("getUserById HTTPServer", ["getuserbyid", "httpserver"], ["get", "user", "by", "id", "http", "server"]),
])
def test_a_compound_is_a_term_beside_its_parts(text, whole, parts):
    terms = keywords(text)
    assert set(whole) <= set(terms) and set(parts) <= set(terms), terms
    assert all(t == t.lower() for t in terms)


def test_table_cells_glued_together_come_apart():
    """A table extracted without separators: 'CONVERSATION_CACHE_TTLinteger86400Conversation'."""
    terms = keywords("CONVERSATION_CACHE_TTLinteger86400Conversation cache TTL in seconds")
    assert {"conversation", "cache", "ttl", "integer", "86400"} <= set(terms)
    assert {"rate", "limit", "100", "req", "min"} <= set(keywords("Rate Limit100 req/min per user"))


def test_plain_words_are_plain_terms():
    assert keywords("On night 44 the telescope tracked Jupiter.") == ["on", "night", "44", "the", "telescope", "tracked", "jupiter"]


def test_an_exact_identifier_outweighs_its_common_parts():
    """The query term `min_length` is one term: a passage holding it scores above one that only
    shares the words `min` and `length` (before IDF, which the store applies)."""
    encoder = SparseEncoder()
    query = dict(zip(*encoder.query("min_length"), strict=True))
    exact = dict(zip(*encoder.document("name: str = Field(..., min_length=3)"), strict=True))
    loose = dict(zip(*encoder.document("The min and the length of the name."), strict=True))
    assert sum(exact.get(t, 0) for t in query) > sum(loose.get(t, 0) for t in query) > 0


def test_the_section_path_is_indexed_with_the_passage():
    encoder = SparseEncoder()
    query = set(encoder.query("ruff linters")[0])
    bare = set(encoder.document("run: ruff check . && mypy app")[0])
    placed = set(encoder.document("run: ruff check . && mypy app", ("Guide", "9.3 CI/CD Pipelines > Linters"))[0])
    assert query & placed > query & bare
