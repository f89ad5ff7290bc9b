"""Builds real documents of every supported kind from sections, for tests and benchmarks:
PDF (fpdf2, one section per page), DOCX (python-docx, heading styles), HTML (with navigation
and footer boilerplate around the article), Markdown and plain text.

    sections = [("Hotels", ["The nightly hotel limit is ...", "..."]), ...]
"""

from __future__ import annotations

import html
import io

Sections = list[tuple[str, list[str]]]


def make_markdown(title: str, sections: Sections) -> bytes:
    out = [f"# {title}", ""]
    for heading, paragraphs in sections:
        out += [f"## {heading}", ""]
        for p in paragraphs:
            out += [p, ""]
    return "\n".join(out).encode()


def make_text(title: str, sections: Sections) -> bytes:
    out = [title, "=" * len(title), ""]
    for heading, paragraphs in sections:
        out += [heading, "-" * len(heading), ""]
        for p in paragraphs:
            out += [p, ""]
    return "\n".join(out).encode()


def make_html(title: str, sections: Sections) -> bytes:
    nav = "".join(f'<li><a href="/p{i}">Menu item {i}</a></li>' for i in range(8))
    body = "".join(
        f"<h2>{html.escape(h)}</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in ps) for h, ps in sections
    )
    page = (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body>"
        f'<header><nav><ul>{nav}</ul></nav></header>'
        f"<main><article><h1>{html.escape(title)}</h1>{body}</article></main>"
        "<footer><p>Copyright Example Corp. All rights reserved. Privacy | Terms | Cookies</p></footer>"
        "</body></html>"
    )
    return page.encode()


def make_docx(title: str, sections: Sections) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for p in paragraphs:
            document.add_paragraph(p)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_pdf(title: str, sections: Sections) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_auto_page_break(auto=True, margin=15)
    for heading, paragraphs in sections:
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=16)
        pdf.multi_cell(0, 10, heading)
        pdf.ln(4)
        pdf.set_font("Helvetica", size=11)
        for p in paragraphs:
            pdf.multi_cell(0, 6, p)
            pdf.ln(4)
    return bytes(pdf.output())


def make_pdf_with_a_lone_surrogate(text: str) -> bytes:
    """A one-page PDF of `text` whose font's ToUnicode map sends the letter 'A' to U+D800: pypdf
    decodes such maps with `surrogatepass`, so the extracted text holds a lone surrogate (a
    damaged font, as found in the wild)."""
    cmap = (b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /T def\n/CMapType 2 def\n"
            b"1 begincodespacerange\n<00> <FF>\nendcodespacerange\n1 beginbfrange\n<20> <7E> <0020>\nendbfrange\n"
            b"1 beginbfchar\n<41> <D800>\nendbfchar\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
    content = b"BT /F1 12 Tf 72 700 Td (" + text.encode("latin-1") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"endstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


MAKERS = {"pdf": make_pdf, "docx": make_docx, "html": make_html, "md": make_markdown, "txt": make_text}
