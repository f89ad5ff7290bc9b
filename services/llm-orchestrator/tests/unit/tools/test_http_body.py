"""The HTTP tool's body reader: a compressed answer is inflated only up to the size limit."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from llm_orchestrator.tools.base import ToolError
from llm_orchestrator.tools.http_fetch import read_body

LIMIT = 1_000_000


async def chunks(data: bytes, size: int = 65_536):
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def test_a_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(b"\0" * 200_000_000)  # ~200 kB on the wire
    tracemalloc.start()
    try:
        with pytest.raises(ToolError, match="larger than the limit"):
            await read_body(chunks(bomb), "gzip", LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * LIMIT  # one 64 kB chunk of it inflated whole (httpx's decoder) is 64 MB


async def test_compressed_and_plain_answers_are_read_whole():
    page = b"<html>" + b"hello " * 10_000 + b"</html>"
    assert await read_body(chunks(gzip.compress(page)), "gzip", LIMIT) == page
    assert await read_body(chunks(zlib.compress(page)), "deflate", LIMIT) == page
    assert await read_body(chunks(page), "", LIMIT) == page
    assert await read_body(chunks(page), "identity", LIMIT) == page


async def test_a_plain_answer_over_the_limit_and_unknown_encodings_are_refused():
    with pytest.raises(ToolError, match="larger than the limit"):
        await read_body(chunks(b"x" * (LIMIT + 1)), "", LIMIT)
    with pytest.raises(ToolError, match="encoded as br"):
        await read_body(chunks(b"x"), "br", LIMIT)
    with pytest.raises(ToolError, match="broken"):
        await read_body(chunks(b"not gzip at all"), "gzip", LIMIT)
