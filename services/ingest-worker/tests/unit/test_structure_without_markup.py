"""Where a format has no markup for structure (PDF pages, plain text), the parser reads headings
and tables from the lines themselves; these are the cases that used to lose facts: a table's rows
read as headings (and so left out of every chunk's text), content lines read as headings, a
numbered list read as chapters, a heading glued under a code block."""

from ingest_worker.chunking import chunk_document
from ingest_worker.parsing import HEADING, PARAGRAPH, parse


def test_a_pdf_tables_rows_are_text_in_the_chunks_not_headings():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    pdf.multi_cell(0, 8, "2. Station network", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, "Every station has a code, a number of docks and opening hours.", new_x="LMARGIN", new_y="NEXT")
    with pdf.table() as table:
        for row in (["Code", "Station", "Docks"], ["S-101", "Harbour Square", "32"], ["S-104", "University North", "40"]):
            cells = table.row()
            for value in row:
                cells.cell(value)
    doc = parse(bytes(pdf.output()), "manual.pdf")
    assert [b.text for b in doc.blocks if b.kind == HEADING] == ["2. Station network"]
    [chunk] = chunk_document(doc)
    assert chunk.section == "2. Station network"
    assert "Code Station Docks" in chunk.text and "S-104 University North 40" in chunk.text


GUIDE = b"""2. Architecture

2.2 System Components

Core Components

1. API Gateway

The gateway is the single entry point.

2. Conversation Service

It manages chat sessions.

2.3 Data Flow

POST /api/v1/chat/stream

Rate Limit: 50 concurrent streams per user

Solutions:

Verify the database URL.

3. Backend

3.1 Project Structure

    return scores
Best Practice: Layered Optimization

Combine several strategies.

Metric Target Notes
Availability 99.9% Multi-region deployment
Knowledge Base Size 10M+ documents Vector database
"""


def test_headings_nest_by_their_numbers_and_a_numbered_list_is_not_a_chapter():
    doc = parse(GUIDE, "guide.txt")
    sections = {c.text.split(".")[0]: c.section for c in chunk_document(doc)}
    assert sections["The gateway is the single entry point"] == "2. Architecture > 2.2 System Components > 1. API Gateway"
    assert sections["It manages chat sessions"] == "2. Architecture > 2.2 System Components > 2. Conversation Service"
    assert sections["Combine several strategies"] == "3. Backend > 3.1 Project Structure > Best Practice: Layered Optimization"


def test_content_lines_are_not_headings_but_a_heading_glued_under_code_is():
    doc = parse(GUIDE, "guide.txt")
    headings = [b.text for b in doc.blocks if b.kind == HEADING]
    paragraphs = [b.text for b in doc.blocks if b.kind == PARAGRAPH]
    assert "Rate Limit: 50 concurrent streams per user" in paragraphs  # "Key: value": content
    assert "Solutions:" in paragraphs  # a label belongs with what follows
    assert "POST /api/v1/chat/stream" in headings
    assert "Best Practice: Layered Optimization" in headings and "return scores" in paragraphs
    # A table's last row stays in the table: the row before it reads like a heading too.
    table = next(p for p in paragraphs if p.startswith("Metric Target Notes"))
    assert table.endswith("Knowledge Base Size 10M+ documents Vector database")
