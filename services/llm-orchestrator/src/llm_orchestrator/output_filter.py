"""The output filter as the event loop runs it: text long enough to cost milliseconds (a long
hold looked at again or let go, a whole answer) is redacted on a worker thread, so one answer's
long run of digits does not stall every other stream. The GIL still shares the CPU: the other
streams slow down while it runs; they do not stop."""

from __future__ import annotations

import asyncio
from collections import Counter

from chatbot_common.guardrails.redaction import OFF_LOOP_CHARS, Redactor, StreamRedactor


async def _on_a_thread(work, *args):
    """`work` on a worker thread; a caller cancelled meanwhile waits for it to end (tens of
    milliseconds at most) before going on, so nothing reads the filter while the thread changes it."""
    done = asyncio.ensure_future(asyncio.to_thread(work, *args))
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        await asyncio.wait([done])
        raise


async def feed(stream: StreamRedactor, piece: str) -> str:
    return await _on_a_thread(stream.feed, piece) if stream.costly(piece) else stream.feed(piece)


async def flush(stream: StreamRedactor) -> str:
    return await _on_a_thread(stream.flush) if stream.costly() else stream.flush()


async def redact(redactor: Redactor, text: str) -> tuple[str, Counter]:
    return await _on_a_thread(redactor.redact, text) if len(text) > OFF_LOOP_CHARS else redactor.redact(text)
