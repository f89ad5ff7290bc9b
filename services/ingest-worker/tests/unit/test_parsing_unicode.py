"""Text a parser hands back that is not valid Unicode (a PDF font whose ToUnicode map names a
lone surrogate) leaves `parse` with the surrogate replaced, so that neither the embedder nor the
gRPC request of the document's batch fails on it."""

from sample_docs import make_pdf_with_a_lone_surrogate

from ingest_worker.parsing import parse


def test_a_lone_surrogate_in_extracted_text_is_replaced():
    doc = parse(make_pdf_with_a_lone_surrogate("A heron nests by the bay, And the mill turns."), "broken-font.pdf")
    text = " ".join(b.text for b in doc.blocks)
    text.encode("utf-8")  # raises on a lone surrogate
    assert "\ufffd heron nests by the bay, \ufffdnd the mill turns." in text
