"""A passage retrieved from the knowledge base, as the services that search it hold it (the
conversation's grounding, the llm-orchestrator's knowledge-base tool), and the one filter that
keeps a passage's text from forging the delimiters of a prompt or a chat template."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Chat-template and delimiter tokens a passage must not be able to smuggle into the prompt.
FORGED = re.compile(r"</?\s*sources?\b[^>]*>|<\|[^|>]{1,40}\|>|\[/?INST\]|<</?SYS>>|<\s*/?\s*(system|assistant|user)\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Passage:
    document_id: str
    chunk_id: str
    title: str
    section: str
    page: int
    text: str
    snippet: str
    score: float


def clean(text: str) -> str:
    return FORGED.sub(" ", text).strip()
