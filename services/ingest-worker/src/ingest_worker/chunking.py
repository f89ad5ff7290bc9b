"""Structured text -> overlapping passages of about 500-1,000 characters.

Chunks follow the document's structure: a new section (heading) starts a new chunk, paragraphs
are packed whole while they fit, a paragraph too long for one chunk is split at sentence ends,
and a sentence too long at word boundaries. Consecutive chunks of one section overlap by the
last sentence(s), so a fact cut by a boundary is still whole in one of them. Each chunk keeps
its section path, page and character offsets in the extracted text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest_worker.parsing import HEADING, ParsedDocument

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")


@dataclass(frozen=True)
class ChunkingOptions:
    target_chars: int = 800
    max_chars: int = 1000
    overlap_chars: int = 150


@dataclass
class TextChunk:
    index: int
    text: str
    section: str
    page: int
    char_start: int
    char_end: int

    def embedding_text(self, title: str) -> str:
        """What gets embedded: the passage with where it sits, which helps retrieval."""
        context = " > ".join(part for part in (title, self.section) if part)
        return f"{context}\n{self.text}" if context else self.text


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _split_long(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at sentence ends, else at spaces."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def _tail(text: str, chars: int) -> str:
    """The last whole sentences of `text` within `chars` characters (overlap for the next chunk)."""
    if chars <= 0:
        return ""
    out = ""
    for sentence in reversed(split_sentences(text)):
        candidate = f"{sentence} {out}".strip()
        if len(candidate) > chars:
            break
        out = candidate
    return out


def chunk_document(doc: ParsedDocument, options: ChunkingOptions | None = None) -> list[TextChunk]:
    options = options or ChunkingOptions()
    chunks: list[TextChunk] = []
    path: list[tuple[int, str]] = []  # (level, heading)
    offset = 0  # position in the extracted text (blocks joined by blank lines)
    current: list[str] = []
    current_len = 0
    current_page = 0
    current_start = 0
    current_section = ""
    overlap = ""

    def flush(keep_overlap: bool) -> None:
        nonlocal current, current_len, overlap
        if not current:
            return
        text = " ".join(current).strip()
        if text and (not chunks or text != chunks[-1].text):
            chunks.append(TextChunk(len(chunks), text, current_section, current_page, current_start, current_start + len(text)))
        overlap = _tail(text, options.overlap_chars) if keep_overlap else ""
        current, current_len = [], 0

    def add(piece: str, page: int, start: int) -> None:
        nonlocal current_len, current_page, current_start
        if current and current_len + 1 + len(piece) > options.max_chars:
            flush(keep_overlap=True)
        if not current:
            current_page, current_start = page, start
            if overlap and len(overlap) + 1 + len(piece) <= options.max_chars:
                current.append(overlap)
                current_len = len(overlap)
                current_start = max(0, start - len(overlap) - 1)
        current.append(piece)
        current_len += len(piece) + (1 if current_len else 0)

    for block in doc.blocks:
        if block.kind == HEADING:
            flush(keep_overlap=False)  # a section boundary always ends the chunk: citations name one section
            overlap = ""
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text))
            current_section = " > ".join(text for _, text in path)
            offset += len(block.text) + 2
            continue
        text = block.text
        if len(text) <= options.max_chars:
            add(text, block.page, offset)
        else:
            position = offset
            for piece in _split_long(text, options.target_chars):
                add(piece, block.page, position)
                position += len(piece) + 1
        offset += len(text) + 2
        if current_len >= options.target_chars:
            flush(keep_overlap=True)
    flush(keep_overlap=False)
    return chunks

