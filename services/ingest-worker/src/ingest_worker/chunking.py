"""Structured text -> passages of about 500-1,000 characters, and the smaller pieces each passage
is matched on.

Passages follow the document's structure: a new section (heading) starts a new passage,
paragraphs are packed whole while they fit, a paragraph too long for one passage is split at
sentence ends, and a sentence too long at word boundaries. Tables, lists, code and configuration
keep their lines: such a block too long for one passage is cut between lines, never inside one,
and a table's rows placed in a later passage carry the table's header row, so a row's cells keep
their names. A paragraph that introduces what follows (it ends with ':') moves with it. Consecutive
passages of one section overlap by the last sentence(s), so a fact cut by a boundary is still
whole in one of them. Each passage keeps its section path, page and character offsets in the
extracted text.

Matching (`match_units`): each passage is cut into pieces of about `match_chars` characters
(sentences; lines; a table's rows with its header row) and those pieces are what is embedded and
keyword-indexed, while a match returns the whole passage. A passage's one vector averages many
facts (and the embedding model reads only its first 256 tokens, about 600 characters of code), so
a question about one configuration key or one table cell is closer to the piece holding it than
to the passage; the passage gives the answer its context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest_worker.parsing import HEADING, ParsedDocument, term_and_definition

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9À-Ý])")


@dataclass(frozen=True)
class ChunkingOptions:
    target_chars: int = 800
    max_chars: int = 1000
    overlap_chars: int = 150
    match_chars: int = 300  # 0: each passage is matched whole


@dataclass
class _Piece:
    text: str
    header: str = ""  # the header row of the table this piece holds rows of
    overlap: bool = False  # carried over from the passage before (matched there)


@dataclass
class TextChunk:
    """A passage: what a search returns and a citation points at."""

    index: int
    text: str
    section: str
    page: int
    char_start: int
    char_end: int
    matches: list[str] = field(default_factory=list)  # what it is found by; empty: the text itself

    def embedding_text(self, title: str) -> str:
        return with_context(self.text, title, self.section)


@dataclass
class MatchUnit:
    """One indexed point: a piece matched on, returning its passage."""

    index: int
    text: str
    chunk: TextChunk

    def embedding_text(self, title: str) -> str:
        return with_context(self.text, title, self.chunk.section)


def with_context(text: str, title: str, section: str) -> str:
    """What gets embedded: the text with where it sits, which helps retrieval."""
    context = " > ".join(part for part in (title, section) if part)
    return f"{context}\n{text}" if context else text


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


def _lines(text: str, limit: int) -> list[str]:
    """A block's units: its lines when it has them (a table, code, a list), else its sentences;
    none longer than `limit`."""
    if "\n" not in text:
        return _split_long(text, limit)
    return [part for line in text.split("\n") for part in (_split_long(line, limit) if len(line) > limit else [line])]


def _parts(text: str, options: ChunkingOptions) -> list[str]:
    """A block as the passages take it: whole when it fits one; else cut between lines (packed up
    to the target size, a term kept with its definition) or, for prose, at sentence ends."""
    if len(text) <= options.max_chars:
        return [text]
    if "\n" not in text:
        return _split_long(text, options.target_chars)
    parts: list[str] = []
    lines = _lines(text, options.target_chars)
    for number, line in enumerate(lines):
        following = lines[number + 1] if number + 1 < len(lines) else ""
        needed = len(line) + (1 + len(following) if term_and_definition(line, following) else 0)
        if parts and len(parts[-1]) + 1 + needed <= options.target_chars:
            parts[-1] = f"{parts[-1]}\n{line}"
        else:
            parts.append(line)
    return parts


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
    current: list[_Piece] = []
    current_len = 0
    current_page = 0
    current_start = 0
    current_section = ""
    overlap = ""

    def flush(keep_overlap: bool) -> None:
        nonlocal current, current_len, overlap
        if not current:
            return
        text = "\n".join(p.text for p in current).strip()
        if text and (not chunks or text != chunks[-1].text):
            chunks.append(TextChunk(len(chunks), text, current_section, current_page, current_start, current_start + len(text),
                                    _matches(current, options)))
        overlap = _tail(text, options.overlap_chars) if keep_overlap else ""
        current, current_len = [], 0

    def add(piece: str, header: str, page: int, start: int) -> None:
        nonlocal current_len, current_page, current_start
        if current and current_len + 1 + len(piece) > options.max_chars:
            flush(keep_overlap=True)
        if not current:
            current_page, current_start = page, start
            if overlap and len(overlap) + 1 + len(piece) <= options.max_chars:
                current.append(_Piece(overlap, overlap=True))
                current_len = len(overlap)
                current_start = max(0, start - len(overlap) - 1)
        if header and not piece.startswith(header) and all(p.header != header for p in current):
            piece = f"{header}\n{piece}"  # rows away from their header row: repeated with them
        current.append(_Piece(piece, header))
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
        position = offset
        for number, piece in enumerate(_parts(text, options)):
            intro = current[-1] if current and current[-1].text.endswith(":") and not current[-1].overlap else None
            if (number == 0 and intro is not None and len(current) > 1 and current_len + 1 + len(piece) > options.max_chars
                    and len(intro.text) + 1 + len(piece) <= options.max_chars):
                # The sentence introducing this block goes with it into the next passage.
                current.pop()
                current_len -= len(intro.text) + 1
                flush(keep_overlap=False)
                add(intro.text, intro.header, block.page, position - len(intro.text) - 2)
            add(piece, block.header, block.page, position)
            position += len(piece) + 1
        offset += len(text) + 2
        if current_len >= options.target_chars and not text.endswith(":"):
            flush(keep_overlap=True)
    flush(keep_overlap=False)
    return chunks


def _matches(pieces: list[_Piece], options: ChunkingOptions) -> list[str]:
    """A passage's pieces to match on, about `match_chars` each: its units (sentences, lines)
    packed in order; a table's rows with their header row. The overlap opening a passage was
    matched in the passage before."""
    if options.match_chars <= 0:
        return []
    matches: list[str] = []
    text, header = "", ""

    def emit() -> None:
        if text:
            matches.append(f"{header}\n{text}" if header and not text.startswith(header) else text)

    for piece in pieces:
        if piece.overlap:
            continue
        separator = "\n"  # between pieces and lines; sentences of a paragraph are joined by a space
        units = _lines(piece.text, options.match_chars * 3 // 2)
        term = ""  # the current piece is a term so far: its definition joins it whatever the size
        for number, unit in enumerate(units):
            entry = "\n" in piece.text and term_and_definition(unit, units[number + 1] if number + 1 < len(units) else "")
            if text and text != term and (entry or len(text) + 1 + len(unit) > options.match_chars
                                          or (piece.header != header and not text.endswith(":"))):
                emit()
                text = ""
            term = unit if entry else ""
            if not text:
                header = piece.header
            text = f"{text}{separator}{unit}" if text else unit
            separator = "\n" if "\n" in piece.text else " "
    emit()
    return matches


def match_units(chunks: list[TextChunk]) -> list[MatchUnit]:
    """The points of a document: each passage's pieces (or the passage whole), numbered in order."""
    units: list[MatchUnit] = []
    for chunk in chunks:
        for text in chunk.matches or [chunk.text]:
            units.append(MatchUnit(len(units), text, chunk))
    return units
