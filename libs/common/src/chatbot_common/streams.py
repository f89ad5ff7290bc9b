"""Relaying a stream without one downstream write per upstream item.

While the consumer is busy writing what it has (a gRPC send, an HTTP write), a task keeps
reading; the consumer then takes everything that arrived meanwhile at once. Nothing is held back
to fill a batch: when the consumer keeps up, every item travels alone and the first never waits.
Under load the batches grow by themselves, and so the cost per item falls as the load rises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def read_ahead(source: AsyncIterator[T], idle: float | None = None, hold: float = 0.0) -> AsyncIterator[list[T]]:
    """The source's items in order, in lists of what arrived since the consumer last asked.

    A list is never empty, except that with `idle` set an empty one comes whenever that many
    seconds pass without an item (a heartbeat's cue): the pending read of the source is never
    cancelled for it. With `hold`, a list is not handed out sooner than `hold` seconds after the
    one before, so that what arrives meanwhile travels with it; the first list and the end of
    the source are never held. An error of the source is raised after the items before it.
    Closing this generator stops the reading task (and with it the source's pending read)."""
    loop = asyncio.get_running_loop()
    items: list[T] = []
    waiter: asyncio.Future[None] | None = None
    holding = False  # while a list is held back, only the source's end wakes the consumer
    finished = False
    failure: Exception | None = None

    def wake() -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def pump() -> None:
        nonlocal finished, failure
        try:
            async for item in source:
                items.append(item)
                if not holding:
                    wake()
        except Exception as exc:  # handed to the consumer, after the items before it
            failure = exc
        finally:
            finished = True
            wake()

    async def wait(seconds: float | None) -> bool:
        """Whether the pump woke the consumer before `seconds` passed."""
        nonlocal waiter
        waiter = loop.create_future()
        try:
            if seconds is None:
                await waiter
            else:
                async with asyncio.timeout(seconds):
                    await waiter
            return True
        except TimeoutError:
            return False
        finally:
            waiter = None

    reader = asyncio.create_task(pump())
    release_at = 0.0
    try:
        while True:
            if not items and not finished and not await wait(idle):
                yield []
                continue
            if items and not finished and (delay := release_at - loop.time()) > 0:
                holding = True
                try:
                    await wait(delay)
                finally:
                    holding = False
            if items:
                batch = items.copy()
                items.clear()
                yield batch
                if hold:
                    release_at = loop.time() + hold
            elif finished:
                if failure is not None:
                    raise failure
                return
    finally:
        # Not awaited: a consumer closed by its own cancellation must not wait here (nor swallow
        # a second cancel); the reader ends on the loop's next turn, its source's read cancelled.
        reader.cancel()


def join_text(batch: list[T], kind: type) -> list[T]:
    """The batch with each run of consecutive `kind` items (pieces of text: built from their one
    field, `text`) joined into one, so that a batch of deltas goes out as one delta."""
    if len(batch) < 2:
        return batch
    out: list = []
    for item in batch:
        if isinstance(item, kind) and out and isinstance(out[-1], kind):
            out[-1] = kind(out[-1].text + item.text)
        else:
            out.append(item)
    return out
