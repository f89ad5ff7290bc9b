"""Where a format has no markup for structure (PDF pages, plain text), the parser reads headings
and tables from the lines themselves; these are the cases that used to lose facts: a table's rows
read as headings (and so left out of every chunk's text), content lines read as headings, a
numbered list read as chapters, a heading glued under a code block."""

from ingest_worker.chunking import ChunkingOptions, chunk_document, match_units
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


def _guide_like_text() -> bytes:
    """A section with a table longer than one passage, then a paragraph introducing a config block."""
    rows = [f"SERVICE_{i}_TIMEOUT integer {i * 5} Seconds the client waits for service number {i} before retrying" for i in range(30)]
    config = ["redis:", "  image: redis:7-alpine", "  command: redis-server --appendonly yes --maxmemory 256mb",
              *(f"  label_{i}: value-{i}" for i in range(20))]
    return "\n".join([
        "Configuration Reference", "",
        "Variable Type Default Description", *rows, "",
        "The cache runs beside the application with its memory capped. " * 6, "",
        "The development cache container is defined as follows:", *[""], *config, "",
    ]).encode()


def test_a_long_tables_rows_stay_whole_and_keep_their_header_row_in_every_passage():
    doc = parse(_guide_like_text(), "reference.txt")
    table = [b for b in doc.blocks if b.header]
    assert len(table) == 1 and table[0].header == "Variable Type Default Description"
    chunks = [c for c in chunk_document(doc) if "SERVICE_" in c.text]
    assert len(chunks) >= 3
    for chunk in chunks:
        assert chunk.text.startswith("Variable Type Default Description\n"), chunk.text[:80]
        for line in chunk.text.split("\n")[1:]:
            assert ("SERVICE_" not in line) or (line.startswith("SERVICE_") and line.endswith("before retrying")), line
    assert all(any(f"SERVICE_{i}_TIMEOUT integer {i * 5} " in c.text for c in chunks) for i in range(30))


def test_a_config_block_goes_whole_with_the_sentence_introducing_it():
    chunks = chunk_document(parse(_guide_like_text(), "reference.txt"))
    [chunk] = [c for c in chunks if "--maxmemory 256mb" in c.text]
    assert "The development cache container is defined as follows:\nredis:" in chunk.text
    assert "label_19: value-19" in chunk.text


def test_passages_are_matched_by_smaller_pieces_and_a_rows_piece_carries_the_header():
    options = ChunkingOptions(match_chars=300)
    chunks = chunk_document(parse(_guide_like_text(), "reference.txt"), options)
    units = match_units(chunks)
    assert len(units) > len(chunks) and [u.index for u in units] == list(range(len(units)))
    for unit in units:
        assert len(unit.text) <= 2 * options.match_chars
        body = unit.text.removeprefix("Variable Type Default Description\n")
        assert body in unit.chunk.text  # a piece of the passage it returns
        if "SERVICE_" in unit.text:
            assert unit.text.startswith("Variable Type Default Description\n")
        assert unit.embedding_text("Reference").startswith(f"Reference > {unit.chunk.section}\n")
    # Every row is found by a piece of its own size, not by a whole passage.
    assert all(any(f"SERVICE_{i}_TIMEOUT" in u.text for u in units) for i in range(30))
    # Matched whole when pieces are off.
    whole = match_units(chunk_document(parse(_guide_like_text(), "reference.txt"), ChunkingOptions(match_chars=0)))
    assert [u.text for u in whole] == [c.text for c in chunks]


def test_prose_wrapped_across_lines_is_one_paragraph_and_a_list_keeps_its_lines():
    doc = parse(b"Notes\n\nThe archive review moves to room eleven\nbecause the old room is being painted\nthis week.\n\n"
                b"Steps:\n- open the door\n- switch on the light\n- sign the book\n", "notes.txt")
    paragraphs = [b.text for b in doc.blocks if b.kind == PARAGRAPH]
    assert paragraphs[0] == "The archive review moves to room eleven because the old room is being painted this week."
    assert paragraphs[1] == "Steps:\n- open the door\n- switch on the light\n- sign the book"


def test_a_glossary_is_no_table_and_each_term_stays_with_its_definition():
    """Terms each followed by a sentence: the first term is no header row to repeat, and no
    passage or piece ends on a term whose definition went to the next one."""
    terms = [(f"Term Number {n} (TN{n})", f"The definition of term number {n} runs on for several words, long enough to fill "
              f"a line of a glossary like the guide's ({n}).") for n in range(40)]
    text = "Glossary\n\n" + "\n".join(f"{term}\n{definition}" for term, definition in terms) + "\n"
    doc = parse(text.encode(), "glossary.txt")
    assert [b.header for b in doc.blocks if b.kind == PARAGRAPH] == [""]
    chunks = chunk_document(doc, ChunkingOptions(match_chars=300))
    assert len(chunks) > 3
    units = match_units(chunks)
    for term, definition in terms:
        assert any(f"{term}\n{definition}" in c.text for c in chunks), term
        assert [u.text for u in units if term in u.text] == [f"{term}\n{definition}"]
    for chunk in chunks:
        assert not chunk.text.startswith("Term Number 0 (TN0)\n") or chunk.index == 0


def test_a_configuration_table_whose_descriptions_end_in_a_period_keeps_its_header_row():
    """Rows that end as sentences do ("Seconds a session stays valid.") are no glossary: the
    header row is found, carried by every passage and piece holding rows, and each row keeps it."""
    rows = [f"SESSION_{i}_TTL integer {i * 60} Seconds the session of client number {i} stays valid." for i in range(30)]
    text = "\n".join(["Session Settings", "", "Variable Type Default Description", *rows, ""]).encode()
    doc = parse(text, "settings.txt")
    [table] = [b for b in doc.blocks if b.kind == PARAGRAPH]
    assert table.header == "Variable Type Default Description"
    chunks = chunk_document(doc, ChunkingOptions(match_chars=300))
    assert len(chunks) >= 3
    # Every passage holds the header row above its own rows (after the row it overlaps with the one before).
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines.index("Variable Type Default Description") <= 1, chunk.text[:120]
    units = match_units(chunks)
    assert all(u.text.startswith("Variable Type Default Description\n") for u in units if "SESSION_" in u.text)
    assert all(any(row in u.text for u in units) for row in rows)
    # A short one (a header row and two rows) is a table too.
    [short] = [b for b in parse("\n".join(["Variable Type Default Description", *rows[:2]]).encode(), "s.txt").blocks
               if b.kind == PARAGRAPH]
    assert short.header == "Variable Type Default Description"
