"""Token counting for context fitting: the served model's tokenizer where we have it."""

from __future__ import annotations

from pathlib import Path

from llm_orchestrator.providers.local import LocalTokenizer


class TokenCounter:
    """Counts with the embedded GGUF tokenizer. For a remote model the counts are estimates
    (`exact` false) and callers keep a safety margin."""

    def __init__(self, model_path: Path, local_targets: set[str]) -> None:
        self._tokenizer = LocalTokenizer(model_path)
        self._exact_for = local_targets
        self.name = model_path.stem

    def count(self, texts: list[str]) -> list[int]:
        return [self._tokenizer.count(t) for t in texts]

    def is_exact(self, provider: str) -> bool:
        return provider in self._exact_for
