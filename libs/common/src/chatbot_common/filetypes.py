"""What a file is, judged by its bytes and never by its name.

The gateway refuses anything that is not one of the supported kinds before storing it; the
worker uses the same judgement to pick its parser. The name only separates Markdown from plain
text, both of which are text by content.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

PDF, DOCX, HTML, MARKDOWN, TEXT = "pdf", "docx", "html", "markdown", "text"
CONTENT_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    HTML: "text/html",
    MARKDOWN: "text/markdown",
    TEXT: "text/plain",
}
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
# Signatures of things we never accept, so the error can say what the file really is.
_KNOWN_BINARIES = (
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java class file"),
    (b"#!", "a script"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-zip archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office file (convert it to DOCX or PDF)"),
)


class UnsupportedFile(ValueError):
    """The bytes are not a kind we ingest; the message says what they look like."""


@dataclass(frozen=True)
class FileKind:
    kind: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]


def sniff(data: bytes, filename: str = "") -> FileKind:
    if not data:
        raise UnsupportedFile("the file is empty")
    head = data[:8]
    if data[:5] == b"%PDF-" or b"%PDF-" in data[:1024]:
        return FileKind(PDF)
    if head.startswith(b"PK\x03\x04"):
        return FileKind(_zip_kind(data))
    for signature, what in _KNOWN_BINARIES:
        if head.startswith(signature):
            if signature == b"#!" and _is_text(data):
                break  # a text file may start with "#!"; judged as text below
            raise UnsupportedFile(f"the content is {what}, not a supported document")
    if not _is_text(data):
        raise UnsupportedFile("the content is binary and not a supported document (PDF, DOCX, HTML, Markdown, text)")
    text_head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text_head.startswith((b"<!doctype html", b"<html")) or (text_head.startswith(b"<") and b"<body" in data[:65536].lower()):
        return FileKind(HTML)
    if filename.lower().endswith(_MARKDOWN_SUFFIXES):
        return FileKind(MARKDOWN)
    return FileKind(TEXT)


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise UnsupportedFile("the content is a damaged ZIP archive") from None
    if "word/document.xml" in names and "[Content_Types].xml" in names:
        return DOCX
    raise UnsupportedFile("the content is a ZIP archive, not a DOCX document")


def _is_text(data: bytes) -> bool:
    sample = data[:65536]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still text.
        return exc.start >= len(sample) - 4 and len(data) > len(sample)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM); other encodings were refused by `sniff`."""
    return data.decode("utf-8-sig", errors="replace")
