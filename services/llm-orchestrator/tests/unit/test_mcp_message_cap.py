"""The per-message cap on what MCP servers send, where bytes arrive cut anywhere: an event
stream's events (a blank line ends one; lines end with CRLF, LF or CR, split across chunks or
not) and a stdio server's lines."""

from __future__ import annotations

import httpx2
import pytest
from mcp.shared.message import SessionMessage

from llm_orchestrator.mcp.connections import ResponseTooLarge, _EventCappedStream
from llm_orchestrator.mcp.stdio import CappedLines, MessageTooLarge


class Chunks(httpx2.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


async def read(chunks: list[bytes], limit: int) -> bytes:
    return b"".join([chunk async for chunk in _EventCappedStream(Chunks(chunks), limit)])


def event(size: int, end: bytes = b"\r\n") -> bytes:
    return b"event: message" + end + b"data: " + b"x" * size + end + end


@pytest.mark.parametrize("end", [b"\r\n", b"\n", b"\r"])
@pytest.mark.parametrize("cut", [1, 7, 64, 1000])
async def test_a_stream_of_small_events_passes_however_long_and_however_cut(end, cut):
    body = b"".join(event(500, end) for _ in range(200))  # 100 kB, every event under 1 kB
    chunks = [body[i:i + cut] for i in range(0, len(body), cut)]
    assert await read(chunks, 1024) == body


@pytest.mark.parametrize("end", [b"\r\n", b"\n", b"\r"])
@pytest.mark.parametrize("cut", [1, 7, 64, 1000])
async def test_one_event_past_the_cap_stops_the_stream(end, cut):
    body = event(500, end) * 3 + event(2000, end) + event(10, end)
    chunks = [body[i:i + cut] for i in range(0, len(body), cut)]
    with pytest.raises(ResponseTooLarge):
        await read(chunks, 1024)


async def test_a_line_without_its_end_counts_toward_its_event():
    with pytest.raises(ResponseTooLarge):
        await read([b"data: " + b"x" * 600] * 4, 1024)  # 2.4 kB and no line end yet


def test_stdio_lines_are_read_up_to_the_cap():
    lines = CappedLines(1024)
    answer = b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"' + b"x" * 5000 + b'"}]}}\n'
    small = b'{"jsonrpc":"2.0","id":8,"result":{}}\n'
    out = []
    for i in range(0, len(answer + small), 100):
        out += lines.feed((answer + small)[i:i + 100])
    assert len(out) == 2 and all(isinstance(m, SessionMessage) for m in out)
    assert out[0].message.id == 7 and "larger than 1024 bytes" in out[0].message.error.message  # the call it answered fails
    assert out[1].message.id == 8 and out[1].message.result == {}

    # A long line that is no answer: reported as unreadable, no request is touched.
    (note,) = lines.feed(b'{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"' + b"y" * 3000)
    assert isinstance(note, MessageTooLarge)
    (after,) = lines.feed(b'"}}\n' + small)  # the rest of the long line is dropped; the next one is read
    assert after.message.id == 8


@pytest.mark.parametrize("request_id", [b"007", b'"\\q"', b"-0012"])
def test_a_long_line_whose_id_is_no_json_is_reported_unreadable_and_the_next_line_read(request_id):
    # The head pattern lets these ids through; JSON does not: before, the error escaped the
    # reader and the stdio session died.
    lines = CappedLines(1024)
    small = b'{"jsonrpc":"2.0","id":8,"result":{}}\n'
    out = lines.feed(b'{"jsonrpc":"2.0","id":' + request_id + b',"result":{"text":"' + b"x" * 3000 + b'"}}\n' + small)
    assert isinstance(out[0], MessageTooLarge)
    assert out[1].message.id == 8
