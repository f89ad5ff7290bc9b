"""Generate's stream: the model named first, text that arrives within the stream interval after a
delta joined into the next one (the first delta and the end never wait), and every piece of the
text delivered once, in order."""

import asyncio

from chatbot.llm.v1 import llm_pb2
from chatbot_common.generation import ModelSelected
from llm_orchestrator.providers.base import Delta, End, Usage
from llm_orchestrator.servicer import LlmServicer


class Bursts:
    """A router whose provider sends "Hello", then, once that left, a burst of pieces and the end."""

    default_model = "fake"

    def __init__(self) -> None:
        self.first_sent = asyncio.Event()

    async def generate(self, *_args):
        yield ModelSelected("fake", "fake-model")
        yield Delta("Hello")
        await self.first_sent.wait()
        for piece in (",", " wor", "ld", "!"):
            yield Delta(piece)
        yield End("stop", Usage(3, 5))


class Context:
    def time_remaining(self) -> float:
        return 30.0


async def test_text_within_the_interval_travels_as_one_delta_and_the_end_is_not_held():
    router = Bursts()
    servicer = LlmServicer(router, None, stream_interval=20.0)  # far longer than the test may take
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies = []
    async for reply in servicer.Generate(llm_pb2.GenerateRequest(), Context()):
        replies.append(reply)
        if reply.WhichOneof("event") == "delta":
            router.first_sent.set()
    kinds = [r.WhichOneof("event") for r in replies]
    assert kinds == ["start", "delta", "delta", "end"], kinds
    assert (replies[0].start.provider, replies[0].start.model) == ("fake", "fake-model")
    assert [r.delta.text for r in replies[1:3]] == ["Hello", ", world!"]
    assert replies[-1].end.usage.total_tokens == 8
    assert loop.time() - started < 10  # the end came when the provider ended, not after the interval


async def test_without_an_interval_each_piece_that_comes_alone_leaves_alone():
    router = Bursts()
    servicer = LlmServicer(router, None)
    texts = []
    async for reply in servicer.Generate(llm_pb2.GenerateRequest(), Context()):
        if reply.WhichOneof("event") == "delta":
            texts.append(reply.delta.text)
            router.first_sent.set()
    assert texts[0] == "Hello" and "".join(texts) == "Hello, world!"
