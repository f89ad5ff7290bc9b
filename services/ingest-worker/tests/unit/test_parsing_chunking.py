"""Parsing every supported kind (documents built by the test) and chunking by structure."""

import io
import zipfile

import pytest

from ingest_worker.chunking import ChunkingOptions, chunk_document, split_sentences
from ingest_worker.parsing import HEADING, PARAGRAPH, ParseError, parse
from sample_docs import MAKERS

SECTIONS = [
    ("Hotel allowance", ["The nightly hotel limit is 180 EUR in Berlin and 250 EUR in London.",
                         "Receipts are uploaded within thirty days of the stay."]),
    ("Flights", ["Economy class is required for flights shorter than six hours."]),
]


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_each_kind_parses_into_headings_and_paragraphs(kind):
    data = MAKERS[kind]("Travel Policy", SECTIONS)
    doc = parse(data, f"travel.{kind}")
    headings = [b.text for b in doc.blocks if b.kind == HEADING]
    paragraphs = " ".join(b.text for b in doc.blocks if b.kind == PARAGRAPH)
    assert "Hotel allowance" in headings and "Flights" in headings
    assert "250 EUR in London" in paragraphs and "shorter than six hours" in paragraphs
    assert doc.title == "Travel Policy"
    if kind == "pdf":
        assert doc.page_count == 2
        assert {b.page for b in doc.blocks if "six hours" in b.text} == {2}
    if kind == "html":
        assert "Menu item" not in paragraphs and "Copyright" not in paragraphs  # boilerplate removed


def test_chunks_keep_section_page_and_offsets():
    doc = parse(MAKERS["pdf"]("Travel Policy", SECTIONS), "travel.pdf")
    chunks = chunk_document(doc)
    by_section = {c.section: c for c in chunks}
    assert by_section["Hotel allowance"].page == 1 and by_section["Flights"].page == 2
    assert "six hours" in by_section["Flights"].text and "EUR" not in by_section["Flights"].text
    assert all(0 <= c.char_start < c.char_end for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_long_sections_split_within_limits_with_overlap():
    sentences = [f"Rule {i} says that form F-{i} is filed by the {i}th day of the quarter." for i in range(120)]
    doc = parse(MAKERS["md"]("Handbook", [("Filing", [" ".join(sentences[:60]), " ".join(sentences[60:])])]), "h.md")
    options = ChunkingOptions(target_chars=800, max_chars=1000, overlap_chars=150)
    chunks = chunk_document(doc, options)
    assert len(chunks) > 5
    assert all(len(c.text) <= options.max_chars for c in chunks)
    assert all(len(c.text) >= 400 for c in chunks[:-1])
    for before, after in zip(chunks, chunks[1:], strict=False):
        # Overlap: the next chunk opens with whole sentences from the end of the previous one.
        head = split_sentences(after.text)[0]
        assert head in before.text and split_sentences(before.text)[-1] in after.text[: options.overlap_chars + 80]
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)  # nothing lost


def test_nested_headings_make_a_section_path():
    data = b"# Handbook\n\n## Security\n\n### Passwords\n\nPasswords have fourteen characters.\n\n## Travel\n\nBook early.\n"
    chunks = chunk_document(parse(data, "h.md"))
    assert [c.section for c in chunks] == ["Handbook > Security > Passwords", "Handbook > Travel"]


@pytest.mark.parametrize(("data", "name", "reason"), [
    (b"%PDF-1.7\n1 0 obj <<>> garbage", "broken.pdf", "PDF"),
    (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "report.pdf", "ELF executable"),
    (b"", "empty.txt", "empty"),
    (b"\x00\x01\x02\x03binary", "data.txt", "binary"),
    (b"   \n\n  \n", "blank.txt", "no text"),
])
def test_unreadable_files_fail_with_a_reason(data, name, reason):
    with pytest.raises(ParseError) as info:
        parse(data, name)
    assert reason.lower() in str(info.value).lower()


def test_a_zip_that_is_not_docx_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ParseError) as info:
        parse(buffer.getvalue(), "notes.docx")
    assert "ZIP" in str(info.value)
