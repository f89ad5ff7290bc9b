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
    loop = asyncio.get_running_loop()
    pipe = _TokenPipe(loop)
    words = [f"w{i} " for i in range(200)]

    def produce():
        for word in words:
            pipe.put(Delta(word))
            time.sleep(0.0005)
        pipe.put(End("stop", Usage(3, len(words))))

    thread = threading.Thread(target=produce)
    thread.start()
    items = await collect(pipe, 0.02)
    thread.join()
    deltas = [i for i in items if isinstance(i, Delta)]
    assert "".join(d.text for d in deltas) == "".join(words)
    assert 1 < len(deltas) < len(words) / 4  # joined into far fewer messages than tokens
    assert isinstance(items[-1], End) and items[-1].usage.completion_tokens == 200


async def test_first_token_is_not_held_back():
    loop = asyncio.get_running_loop()
    pipe = _TokenPipe(loop)
    started = loop.time()
    threading.Thread(target=lambda: (pipe.put(Delta("hello")), time.sleep(0.3), pipe.put(End("stop", Usage(1, 1))))).start()
    items = pipe.items(0.5)
    first = await anext(items)
    assert first.text == "hello" and loop.time() - started < 0.2
    assert isinstance(await anext(items), End)


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

    def produce():
        pipe.put(Delta("a"))
        time.sleep(0.05)
        pipe.put(Delta("b"))
        time.sleep(0.05)
        pipe.put(End("stop", Usage(1, 2)))

    threading.Thread(target=produce).start()
    assert (await anext(items)).text == "a"
    started = loop.time()
    rest = [item async for item in items]
    assert loop.time() - started < 1.0
    assert [getattr(i, "text", None) for i in rest] == ["b", None] and isinstance(rest[-1], End)
