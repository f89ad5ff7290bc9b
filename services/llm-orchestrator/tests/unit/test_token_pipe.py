"""The hand-off from the llama thread to the event loop: nothing lost or reordered, bursts
joined into one delta, the first token never held back, errors delivered."""

import asyncio
import threading
import time

import pytest

from llm_orchestrator.providers.base import Delta, End, ProviderError, Usage
from llm_orchestrator.providers.local import _TokenPipe
from chatbot_common.errors import ProviderErrorKind


async def collect(pipe: _TokenPipe, interval: float) -> list:
    return [item async for item in pipe.items(interval)]


async def test_bursts_are_joined_and_order_kept():
    """At most one delta per interval however fast tokens come: the text in between is joined."""
    loop = asyncio.get_running_loop()
    pipe = _TokenPipe(loop)
    interval = 0.02
    words = [f"w{i} " for i in range(200)]
    first_seen = threading.Event()

    def produce():
        pipe.put(Delta(words[0]))
        first_seen.wait(10)  # the first word goes out alone, so what follows is throttled
        for word in words[1:]:
            pipe.put(Delta(word))
            time.sleep(0.0005)  # a model's pace: many tokens per interval
        pipe.put(End("stop", Usage(3, len(words))))

    thread = threading.Thread(target=produce)
    thread.start()
    items, times = [], []
    async for item in pipe.items(interval):
        items.append(item)
        times.append(loop.time())
        first_seen.set()
    thread.join()
    deltas = [i for i in items if isinstance(i, Delta)]
    assert "".join(d.text for d in deltas) == "".join(words)
    assert deltas[0].text == words[0] and len(deltas) > 1
    # Between deltas at least one interval passes; only the end (which joins the last delta) cuts it short.
    gaps = [later - earlier for earlier, later in zip(times[:len(deltas) - 1], times[1:len(deltas) - 1])]
    assert all(gap >= interval - 0.001 for gap in gaps), gaps
    assert isinstance(items[-1], End) and items[-1].usage.completion_tokens == 200


async def test_first_token_is_not_held_back():
    loop = asyncio.get_running_loop()
    pipe = _TokenPipe(loop)
    first_seen = threading.Event()
    ended_before_first = []

    def produce():
        pipe.put(Delta("hello"))
        # The end comes only once the first token is out (or after 10 s if the pipe holds it back).
        ended_before_first.append(not first_seen.wait(10))
        pipe.put(End("stop", Usage(1, 1)))

    threading.Thread(target=produce).start()
    items = pipe.items(0.5)
    first = await anext(items)
    first_seen.set()
    assert first.text == "hello"
    assert isinstance(await anext(items), End)
    assert ended_before_first == [False]


async def test_errors_reach_the_consumer_after_the_text_before_them():
    loop = asyncio.get_running_loop()
    pipe = _TokenPipe(loop)
    threading.Thread(target=lambda: (pipe.put(Delta("partial")), pipe.put(ProviderError(ProviderErrorKind.UNAVAILABLE, "boom")))).start()
    got = []
    with pytest.raises(ProviderError):
        async for item in pipe.items(0.01):
            got.append(item)
    assert "".join(i.text for i in got) == "partial"


async def test_the_end_is_not_held_back_by_throttling():
    loop = asyncio.get_running_loop()
    pipe = _TokenPipe(loop)
    items = pipe.items(5.0)  # a long interval: only the end may cut the pause short
    a_seen = threading.Event()

    def produce():
        pipe.put(Delta("a"))
        a_seen.wait(10)  # "a" is out, so "b" starts a throttling pause
        pipe.put(Delta("b"))
        time.sleep(0.05)  # the end arrives during that pause (the case under test)
        pipe.put(End("stop", Usage(1, 2)))

    threading.Thread(target=produce).start()
    assert (await anext(items)).text == "a"
    a_seen.set()
    started = loop.time()
    rest = [item async for item in items]
    assert loop.time() - started < 1.0
    assert [getattr(i, "text", None) for i in rest] == ["b", None] and isinstance(rest[-1], End)
