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


MAKERS = {"pdf": make_pdf, "docx": make_docx, "html": make_html, "md": make_markdown, "txt": make_text}
