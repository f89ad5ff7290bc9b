"""A provider whose reply holds a lone surrogate (Python's JSON reader, which the Anthropic SDK
uses, lets a `\\ud800` escape through): the orchestrator sends the answer on with U+FFFD in its
place instead of failing the stream mid-answer (protobuf cannot encode a lone surrogate)."""

from chatbot.llm.v1 import llm_pb2
from chatbot_common.generation import ModelSelected
from llm_orchestrator.providers.base import Delta, End, Usage
from llm_orchestrator.servicer import LlmServicer


class OneReply:
    default_model = "fake"

    def __init__(self, *texts: str) -> None:
        self.texts = texts

    async def generate(self, *_args):
        yield ModelSelected("fake", "fake-model")
        for text in self.texts:
            yield Delta(text)
        yield End("stop", Usage(1, len(self.texts)))


class Context:
    def time_remaining(self) -> float:
        return 10.0


REQUEST = llm_pb2.GenerateRequest(messages=[llm_pb2.ChatMessage(role="user", content="hi")])


async def test_a_lone_surrogate_from_a_provider_is_replaced_in_the_stream():
    servicer = LlmServicer(OneReply("caf\u00e9 ", "hi \ud800 there", " \ud83d\ude00"), None)
    replies = [reply async for reply in servicer.Generate(REQUEST, Context())]
    for reply in replies:
        reply.SerializeToString()  # raises on a lone surrogate
    text = "".join(r.delta.text for r in replies if r.WhichOneof("event") == "delta")
    assert text == "caf\u00e9 hi \ufffd there \U0001f600"
    assert replies[-1].WhichOneof("event") == "end"


async def test_the_whole_answer_call_too():
    reply = await LlmServicer(OneReply("a\udc00b"), None).Complete(REQUEST, Context())
    assert reply.text == "a\ufffdb" and reply.SerializeToString()


async def test_a_number_copied_from_a_datamarked_source_is_redacted():
    """Seen in review: sources reach the model datamarked ("4111ˆ1111ˆ…"); a copy of a card
    number passed the output filter, which took the marks for letters, and became whole again
    once the marks were turned back into spaces."""
    from chatbot_common.guardrails.redaction import Redactor
    from chatbot_common.guardrails.spotlight import MARK

    card = MARK.join(["4111", "1111", "1111", "1111"])
    phone = MARK.join(["+44", "20", "7946", "0958"])
    for pieces in ([f"Card{MARK}{card}{MARK}and{MARK}{phone}."], list(f"Card {card} and {phone}.")):
        servicer = LlmServicer(OneReply(*pieces), None, Redactor())
        replies = [reply async for reply in servicer.Generate(REQUEST, Context())]
        text = "".join(r.delta.text for r in replies if r.WhichOneof("event") == "delta")
        assert text == "Card [CARD REDACTED] and [PHONE REDACTED].", text
    reply = await LlmServicer(OneReply(f"Card {card}"), None, Redactor()).Complete(REQUEST, Context())
    assert reply.text == "Card [CARD REDACTED]"
