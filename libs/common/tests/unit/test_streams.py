"""read_ahead: a relay's consumer takes what arrived while it was busy, in order, and never
waits for a batch to fill; errors come after the items before them; heartbeats when idle."""

import asyncio
import contextlib

import pytest

from chatbot_common.streams import join_text, read_ahead


class Piece:
    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other) -> bool:
        return isinstance(other, Piece) and other.text == self.text


async def paced(items, gate: asyncio.Event | None = None):
    """Yields each item once the consumer has signalled for it (or at once without a gate)."""
    for item in items:
        if gate is not None:
            await gate.wait()
            gate.clear()
        yield item


async def test_a_consumer_that_keeps_up_gets_each_item_alone():
    got = []
    gate = asyncio.Event()
    gate.set()
    async with contextlib.aclosing(read_ahead(paced(range(5), gate))) as batches:
        async for batch in batches:
            got.append(batch)
            gate.set()  # the next item is produced only now: nothing can pile up
    assert got == [[0], [1], [2], [3], [4]]


async def test_what_arrives_while_the_consumer_is_busy_comes_as_one_batch():
    busy, produced = asyncio.Event(), asyncio.Event()

    async def burst():
        yield "first"
        await busy.wait()
        for item in ("a", "b", "c"):
            yield item
        produced.set()

    got = []
    async for batch in read_ahead(burst()):
        got.append(batch)
        if batch == ["first"]:
            busy.set()
            await produced.wait()  # still writing "first" while the rest arrives
    assert got == [["first"], ["a", "b", "c"]]


async def test_an_error_comes_after_the_items_before_it():
    async def failing():
        yield 1
        yield 2
        raise ValueError("upstream broke")

    got = []
    with pytest.raises(ValueError, match="upstream broke"):
        async for batch in read_ahead(failing()):
            got += batch
    assert got == [1, 2]


async def test_idle_periods_yield_empty_batches_without_cancelling_the_read():
    release = asyncio.Event()
    reads = []

    async def slow():
        reads.append("started")
        await release.wait()  # one read, pending across several heartbeats
        yield "late"

    got = []
    async for batch in read_ahead(slow(), idle=0.01):
        got.append(batch)
        if got.count([]) == 3:
            release.set()
    assert got[:3] == [[], [], []] and got[-1] == ["late"] and reads == ["started"]


async def test_closing_the_relay_stops_the_reader():
    closed = asyncio.Event()

    async def endless():
        try:
            while True:
                yield "x"
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    batches = read_ahead(endless())
    assert await anext(batches)
    await batches.aclose()
    await asyncio.wait_for(closed.wait(), 5)


def test_runs_of_text_are_joined_and_other_items_kept_in_place():
    assert join_text([Piece("a"), Piece("b"), "end", Piece("c")], Piece) == [Piece("ab"), "end", Piece("c")]
    one = [Piece("x")]
    assert join_text(one, Piece) is one


async def test_held_items_travel_together_and_the_end_is_never_held():
    took_first = asyncio.Event()

    async def bursts():
        yield "first"
        await took_first.wait()
        yield "b"
        yield "c"

    loop = asyncio.get_running_loop()
    got = []
    started = loop.time()
    async for batch in read_ahead(bursts(), hold=30.0):
        got.append(batch)
        took_first.set()
    # The first list is not held; "b" and "c" arrive within the hold and leave together, as soon
    # as the source ends (30 s would have been the hold).
    assert got == [["first"], ["b", "c"]] and loop.time() - started < 10


async def test_a_list_is_held_for_the_interval_after_the_one_before():
    took_first, took_second = asyncio.Event(), asyncio.Event()

    async def slow_end():
        yield "first"
        await took_first.wait()
        yield "second"
        await took_second.wait()

    loop = asyncio.get_running_loop()
    times = []
    async for batch in read_ahead(slow_end(), hold=0.05):
        times.append((batch, loop.time()))
        (took_second if took_first.is_set() else took_first).set()
    assert [batch for batch, _ in times] == [["first"], ["second"]]
    assert times[1][1] - times[0][1] >= 0.05
