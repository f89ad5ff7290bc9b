"""Judging files by content, and a blob store that never writes outside its root."""

import pytest

from chatbot_common.blobstore import BlobNotFound, LocalBlobStore
from chatbot_common.filetypes import DOCX, HTML, MARKDOWN, PDF, TEXT, UnsupportedFile, sniff
from sample_docs import MAKERS


@pytest.mark.parametrize(("maker", "name", "kind"), [
    ("pdf", "x.bin", PDF), ("docx", "x.pdf", DOCX), ("html", "x.txt", HTML), ("md", "x.md", MARKDOWN), ("txt", "x.md.txt", TEXT),
])
def test_kind_comes_from_the_bytes(maker, name, kind):
    assert sniff(MAKERS[maker]("T", [("S", ["Some text."])]), name).kind == kind


@pytest.mark.parametrize(("data", "what"), [
    (b"\x7fELF\x02\x01\x01", "ELF"), (b"MZ\x90\x00\x03", "Windows executable"), (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"PK\x03\x04garbage", "ZIP"), (b"\xff\xfe\x00\x00", "binary"), (b"", "empty"),
])
def test_unsupported_content_says_what_it_is(data, what):
    with pytest.raises(UnsupportedFile) as info:
        sniff(data, "report.pdf")
    assert what.lower() in str(info.value).lower()


def test_blob_keys_cannot_escape_the_root(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("doc_0123456789abcdef0123456789abcdef", b"bytes")
    assert store.get("doc_0123456789abcdef0123456789abcdef") == b"bytes"
    for key in ("../../etc/passwd", "/etc/passwd", "..", "a/b", "doc_x/../../y", "", "A" * 10):
        with pytest.raises(ValueError):
            store.put(key, b"x")
    assert store.delete("doc_0123456789abcdef0123456789abcdef") and not store.delete("doc_0123456789abcdef0123456789abcdef")
    with pytest.raises(BlobNotFound):
        store.get("doc_0123456789abcdef0123456789abcdef")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all((tmp_path / "blobs") in p.parents for p in written)
