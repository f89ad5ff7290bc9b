"""Bytes -> structured text: headings and paragraphs, with page numbers where the format has pages.

PDF (pypdf, page by page), DOCX (python-docx, heading styles), HTML (trafilatura, boilerplate
removed, headings kept), Markdown (markdown-it-py tokens) and plain text. Anything else, or a
file that cannot be read, raises `ParseError` with a reason a person can act on.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

from chatbot_common.filetypes import DOCX, HTML, MARKDOWN, PDF, TEXT, UnsupportedFile, decode_text, sniff
from chatbot_common.text import valid_text

log = logging.getLogger(__name__)
HEADING, PARAGRAPH = "heading", "paragraph"


class ParseError(ValueError):
    pass


@dataclass
class Block:
    kind: str  # heading | paragraph
    text: str
    level: int = 0  # heading level, 1 = top
    page: int = 0   # 1-based; 0 where the format has no pages
    # A table's header row, on its rows (a block of rows one a line, or a row on its own; the
    # header row carries itself): the chunker repeats it with rows it places away from it, so a
    # row's cells keep their names.
    header: str = ""


@dataclass
class ParsedDocument:
    kind: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    page_count: int = 0

    @property
    def text_chars(self) -> int:
        return sum(len(b.text) for b in self.blocks)


def parse(data: bytes, filename: str = "") -> ParsedDocument:
    try:
        kind = sniff(data, filename).kind
    except UnsupportedFile as exc:
        raise ParseError(str(exc)) from None
    parser = {PDF: parse_pdf, DOCX: parse_docx, HTML: parse_html, MARKDOWN: parse_markdown, TEXT: parse_text}[kind]
    try:
        doc = parser(data)
    except ParseError as exc:  # its reason may quote the file
        raise ParseError(valid_text(str(exc))) from None
    except Exception as exc:  # a damaged file: say so, never crash the worker
        log.info("parse failed", extra={"kind": kind, "error": type(exc).__name__})
        raise ParseError(valid_text(f"the {kind.upper()} file could not be read ({type(exc).__name__}: {str(exc)[:200]})")) from None
    # Every string leaving here is valid Unicode: a lone surrogate would fail the embedding and
    # the gRPC request of the whole batch the document is indexed with.
    doc.title = valid_text(doc.title)
    for block in doc.blocks:
        block.text = valid_text(block.text)
    doc.blocks = [b for b in doc.blocks if b.text.strip()]
    if not any(b.kind == PARAGRAPH for b in doc.blocks):
        if kind == PDF:
            raise ParseError("no text found in the PDF (is it a scan? OCR is not supported)")
        raise ParseError("no text found in the document")
    return doc


# --- plain text and PDF pages -------------------------------------------------------------

_NUMBERED = re.compile(r"^(\d+(\.\d+)*\.?|[IVXLC]+\.|[A-Z]\.)\s+\S")
_SPACES = re.compile(r"[ \t\u00a0]+")


def _looks_like_heading(line: str) -> int:
    """0 if `line` reads as prose; else a heading level guess. Used where the format has no
    markup for headings (PDF pages, plain text): a short line, starting with a capital or a
    section number, not ending like a sentence. Numbered headings nest by their number (1, 1.2,
    1.2.3); an unnumbered one sits below them (3), except one in capitals (1).

    Not headings: a label that introduces what follows ("Solutions:", "Request:"), which belongs
    with it, and a "Key: value" line whose value reads as a phrase ("Rate Limit: 50 concurrent
    streams per user"), which is content; "Step 3: Minimal FastAPI Backend" stays a heading."""
    text = line.strip()
    if not text or len(text) > 80:
        return 0
    numbered = _NUMBERED.match(text)
    if text.endswith((".", ",", ";", "?", "!")) and not numbered:
        return 0
    if text.endswith(":") or _CODE_CHARACTERS.intersection(text):
        return 0
    words = text.split()
    if len(words) > 10 or not (text[0].isupper() or text[0].isdigit()):
        return 0
    if ": " in text and not numbered:
        value = [w for w in text.split(": ", 1)[1].split() if w[0].isalpha()]
        minor = sum(1 for w in value if w.lower() in _MINOR_WORDS)
        if not value or sum(1 for w in value if w[0].isupper()) < len(value) - minor:
            return 0
    if numbered:
        number = words[0].rstrip(".")
        return min(3, 1 + number.count(".")) if number[0].isdigit() else 1
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return 1
    return 3 if len(letters) >= 3 else 0


_CODE_CHARACTERS = frozenset('={}[]<>"`\\|;_$')
_CHAPTER = re.compile(r"(\d+)\.(\d+)?")


def _title_case(line: str) -> bool:
    """Words capitalised, but for small words and at most one other ("Start Simple with pgvector");
    a table row has more lower-case words ("Daily Cost Total cost per day Budget dependent")."""
    words = [w for w in line.split() if w[0].isalpha()]
    if not words or not words[0][0].isupper() or not any(c.islower() for c in line):
        return False
    return sum(1 for w in words if w[0].islower() and w.lower() not in _MINOR_WORDS) <= 1


def _settle_numbering(blocks: list[Block]) -> list[Block]:
    """A numbered list inside a chapter ("1. API Gateway", "2. Conversation Service" after "2.2")
    looks like chapter headings; a chapter number continues the sections before it ("3." after
    "2.4"), so a number that does not is a sub-heading of the section it sits in."""
    chapter = 0
    for block in blocks:
        match = _CHAPTER.match(block.text) if block.kind == HEADING else None
        if not match:
            continue
        number = int(match.group(1))
        if match.group(2):
            chapter = number
        elif block.level == 1:
            if chapter and number != chapter + 1:
                block.level = 3
            else:
                chapter = number
    return blocks


_MINOR_WORDS = frozenset("a an and as at by for from in into of on or the to vs with".split())


def _text_blocks(text: str, page: int = 0) -> list[Block]:
    """Blocks from text whose paragraphs are separated by blank lines (plain text)."""
    blocks: list[Block] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for raw in re.split(r"\n\s*\n", text):
        lines = [_SPACES.sub(" ", line).strip() for line in raw.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        # Setext headings (a line underlined with === or ---) and short title-like first lines.
        if len(lines) >= 2 and re.fullmatch(r"[=\-]{3,}", lines[1]):
            blocks.append(Block(HEADING, lines[0], 1 if lines[1][0] == "=" else 2, page))
            lines = lines[2:]
        elif len(lines) == 1 and (level := _looks_like_heading(lines[0])):
            blocks.append(Block(HEADING, lines[0], level, page))
            lines = []
        # A heading written right under a code block or a list, with no blank line between
        # ("    return scores" then "Best Practice: Layered Optimization"): the last line reads as a
        # heading and the one before it does not (in a table, every row would). Taken only when it
        # is written in title case, as this position is also where a table's last row sits.
        heading, last = 0, ""
        if (len(lines) >= 2 and _title_case(lines[-1]) and _looks_like_heading(lines[-1])
                and not _looks_like_heading(lines[-2])):
            heading, lines, last = _looks_like_heading(lines[-1]), lines[:-1], lines[-1]
        if lines:
            blocks.append(_structured_block(lines, page))
        if heading:
            blocks.append(Block(HEADING, last, heading, page))
    return blocks


def _structured_block(lines: list[str], page: int) -> Block:
    """A paragraph of plain text. Its lines are kept (one a line) unless they wrap prose: in a
    table, a list, code or configuration each line is a unit the chunker may cut between but
    never inside, and a table's first line is its header row."""
    if _wrapped_prose(lines):
        return Block(PARAGRAPH, _join_lines(lines), 0, page)
    header = lines[0] if len(lines) >= 3 and _TABLE_HEADER.fullmatch(lines[0]) and not _definitions(lines) else ""
    return Block(PARAGRAPH, "\n".join(lines), 0, page, header)


# A line that is a sentence: five words or more, ending as a sentence ends.
_SENTENCE_LINE = re.compile(r"\S+(?:\s+\S+){4,}[.!?]")
_LABEL_END = re.compile(r"[.,;:!?]$")


def term_and_definition(line: str, following: str) -> bool:
    """A term and its definition (a glossary, a list of named items): a short line that ends no
    sentence, followed by one that is a sentence."""
    return 0 < len(line) <= 80 and not _LABEL_END.search(line) and bool(_SENTENCE_LINE.fullmatch(following.strip()))


def _definitions(lines: list[str]) -> bool:
    """Terms each followed by its definition (a glossary): the block opens with a term and its
    definition, and such pairs make up most of its lines; its first term is no header row. A
    table whose cells end as sentences do (a configuration table's descriptions) is no glossary:
    its header row is followed by one such row, and the rows after it follow rows, not terms."""
    pairs = sum(1 for line, following in zip(lines, lines[1:], strict=False) if term_and_definition(line, following))
    return term_and_definition(lines[0], lines[1]) and pairs >= 2 and pairs * 2 >= len(lines) - 1


# A table's header row: a few capitalised names ("Metric Target Notes", "VariableTypeDefaultDescription").
_TABLE_HEADER = re.compile(r"[A-Z][\w()/+&-]*(?: [A-Z(][\w()/+&.-]*){0,7}")


def _wrapped_prose(lines: list[str]) -> bool:
    """Lines broken inside sentences: most breaks follow a word or comma and precede a lower-case word."""
    if len(lines) < 2:
        return True
    inside = sum(1 for a, b in zip(lines, lines[1:], strict=False)
                 if (a[-1].isalpha() or a[-1] == ",") and b[0].islower() and not _CODE_CHARACTERS.intersection(a))
    return inside * 2 >= len(lines) - 1


def _layout_blocks(text: str, page: int) -> list[Block]:
    """Blocks from a PDF page's text, where lines wrap and paragraphs are rarely separated by
    blank lines: a paragraph ends where a line ends a sentence well short of the full width."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return []
    width = sorted(len(line) for line in lines)[int(len(lines) * 0.9)] if len(lines) > 3 else max(len(x) for x in lines)
    blocks: list[Block] = []
    current: list[str] = []
    previous_ended = True
    rows = _table_rows(lines)
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        level = 0 if i in rows else _looks_like_heading(line)
        if level and previous_ended and (not following or following[0].isupper() or following[0].isdigit()) and len(line) < 0.8 * width + 1:
            if current:
                blocks.append(Block(PARAGRAPH, _join_lines(current), 0, page))
                current = []
            blocks.append(Block(HEADING, line, level, page))
            previous_ended = True
            continue
        current.append(line)
        previous_ended = line.endswith((".", "!", "?", ":", ";")) or line.endswith('."')
        if i in rows:  # a table row is a line of its own
            blocks.append(Block(PARAGRAPH, _join_lines(current), 0, page, rows[i]))
            current = []
            previous_ended = True
            continue
        if previous_ended and len(line) < 0.85 * width:
            blocks.append(Block(PARAGRAPH, _join_lines(current), 0, page))
            current = []
    if current:
        blocks.append(Block(PARAGRAPH, _join_lines(current), 0, page))
    return blocks


def _table_rows(lines: list[str]) -> dict[int, str]:
    """Lines that are rows of a table, each with its table's header row (the first): a PDF's
    text has no table markup, and each row reads like a heading (short, capitalised, no full
    stop). Three or more such lines in a row are a table (its header and rows), not a run of
    headings; a numbered line is a heading."""
    rows: dict[int, str] = {}
    run: list[int] = []
    for i, line in enumerate([*lines, ""]):
        if line and _looks_like_heading(line) and not _NUMBERED.match(line):
            run.append(i)
            continue
        if len(run) >= 3:
            rows.update((j, lines[run[0]]) for j in run)
        run = []
    return rows


def _join_lines(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        out = out[:-1] + line if out.endswith("-") and out[-2:-1].isalpha() else f"{out} {line}"
    return out


def parse_text(data: bytes) -> ParsedDocument:
    blocks = _settle_numbering(_text_blocks(decode_text(data)))
    title = blocks[0].text if blocks and blocks[0].kind == HEADING else ""
    return ParsedDocument(TEXT, title, blocks)


def parse_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:
                raise ParseError("the PDF is encrypted with a password") from None
        pages = reader.pages
        blocks: list[Block] = []
        for number, page in enumerate(pages, start=1):
            blocks.extend(_layout_blocks(page.extract_text() or "", number))
        _settle_numbering(blocks)
        title = ""
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title).strip()
        return ParsedDocument(PDF, title, blocks, page_count=len(pages))
    except PdfReadError as exc:
        raise ParseError(f"the PDF is damaged and cannot be read ({str(exc)[:200]})") from None


# --- DOCX ---------------------------------------------------------------------------------


def parse_docx(data: bytes) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise ParseError(f"the DOCX file is damaged and cannot be read ({type(exc).__name__})") from None
    blocks: list[Block] = []
    title = (document.core_properties.title or "").strip()
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = docx.text.paragraph.Paragraph(child, document)
            text = paragraph.text.strip()
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if style == "Title":
                title = title or text
                blocks.append(Block(HEADING, text, 1))
            elif style.startswith("Heading"):
                level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
                blocks.append(Block(HEADING, text, level))
            else:
                blocks.append(Block(PARAGRAPH, text))
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            header = ""
            for row in table.rows:
                cells = [cell.text.strip() for cell in row.cells]
                if any(cells):
                    header = header or " | ".join(cells)
                    blocks.append(Block(PARAGRAPH, " | ".join(cells), header=header))
    return ParsedDocument(DOCX, title, blocks)


# --- Markdown and HTML --------------------------------------------------------------------


def parse_markdown(data: bytes) -> ParsedDocument:
    return _markdown_document(decode_text(data), MARKDOWN)


# One Markdown parser per thread (the worker's task threads each parse), built once: building
# one costs about what parsing a small document does.
_markdown_parsers = threading.local()


def _markdown_parser() -> MarkdownIt:
    parser = getattr(_markdown_parsers, "parser", None)
    if parser is None:
        parser = _markdown_parsers.parser = MarkdownIt("commonmark").enable("table")
    return parser


def _markdown_document(source: str, kind: str) -> ParsedDocument:
    tokens = _markdown_parser().parse(source)
    blocks: list[Block] = []
    heading_level = 0
    in_cell = False
    row: list[str] = []
    header = ""  # the current table's first row
    for token in tokens:
        if token.type == "heading_open":
            heading_level = int(token.tag[1:])
        elif token.type == "heading_close":
            heading_level = 0
        elif token.type in ("th_open", "td_open"):
            in_cell = True
        elif token.type in ("th_close", "td_close"):
            in_cell = False
        elif token.type == "inline":
            text = _inline_text(token)
            if in_cell:
                row.append(text)
            elif heading_level:
                blocks.append(Block(HEADING, text, heading_level))
            else:
                blocks.append(Block(PARAGRAPH, text))
        elif token.type in ("fence", "code_block"):
            blocks.append(Block(PARAGRAPH, token.content.strip()))
        elif token.type == "table_open":
            header = ""
        elif token.type == "tr_close":
            if any(row):
                header = header or " | ".join(row)
                blocks.append(Block(PARAGRAPH, " | ".join(row), header=header))
            row = []
    title = next((b.text for b in blocks if b.kind == HEADING and b.level == 1), "")
    return ParsedDocument(kind, title, _merge_list_items(blocks))


def _inline_text(token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return _SPACES.sub(" ", "".join(parts)).strip()


def _merge_list_items(blocks: list[Block]) -> list[Block]:
    """Short consecutive paragraphs (list items) read better as one paragraph; table rows stay rows."""
    merged: list[Block] = []
    for block in blocks:
        previous = merged[-1] if merged else None
        if (previous and block.kind == PARAGRAPH and previous.kind == PARAGRAPH and len(block.text) < 120
                and not block.header and not previous.header
                and len(previous.text) + len(block.text) < 600 and not previous.text.endswith((".", "!", "?", ":"))):
            previous.text = f"{previous.text}; {block.text}"
        else:
            merged.append(Block(block.kind, block.text, block.level, block.page, block.header))
    return merged


def parse_html(data: bytes) -> ParsedDocument:
    import trafilatura

    html = decode_text(data)
    markdown = trafilatura.extract(
        html, output_format="markdown", include_tables=True, include_links=False, include_images=False,
        include_comments=False, favor_recall=True, with_metadata=False,
    )
    if not markdown:
        raise ParseError("no main text found in the HTML page")
    doc = _markdown_document(markdown, HTML)
    metadata = trafilatura.extract_metadata(html)
    if metadata is not None and metadata.title:
        doc.title = metadata.title.strip()
    return doc
