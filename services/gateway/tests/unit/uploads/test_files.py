"""What an upload's files are called and what they are, before anything is stored."""

from __future__ import annotations

import pytest

from chatbot_common.errors import AppError, ErrorCode
from gateway.uploads.files import content_type_of, display_name, title_of


@pytest.mark.parametrize(("given", "shown"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ada\\notes.md", "notes.md"),
    ("bad\x00name\x1b.txt", "badname.txt"),
    (".hidden", "hidden"),
    ("", "upload"),
    (None, "upload"),
    ("x" * 300 + ".txt", "x" * 255),
])
def test_a_client_filename_is_only_ever_a_display_name(given, shown):
    assert display_name(given) == shown


def test_a_title_is_the_name_without_its_extension_or_separators():
    assert title_of("travel_policy-2024.md") == "travel policy 2024"
    assert title_of("___.txt") == "___.txt"
    assert len(title_of(display_name("y" * 400))) <= 255  # within what the registry is promised


def test_the_content_decides_the_type_and_empty_or_foreign_files_are_refused():
    assert content_type_of("notes.md", b"# Notes\n\nSome text.") == "text/markdown"
    empty = pytest.raises(AppError)
    with empty:
        content_type_of("empty.txt", b"")
    assert (empty.excinfo.value.code, empty.excinfo.value.details) == (ErrorCode.VALIDATION_ERROR, {"file": "empty.txt"})
    with pytest.raises(AppError) as foreign:
        content_type_of("invoice.pdf", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    assert foreign.value.code is ErrorCode.UNSUPPORTED_MEDIA_TYPE and foreign.value.message.startswith("invoice.pdf: ")
