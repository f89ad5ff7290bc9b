"""Request bodies whose text is not valid Unicode: found at the edge, answered 400 naming the field.

Python's JSON reader (the one FastAPI uses) turns a `\\ud800` escape, and the raw bytes of a
surrogate (it decodes with `surrogatepass`), into a lone surrogate: a `str` that cannot be
encoded as UTF-8, so it would fail later wherever text leaves the process (a gRPC request, a
database row, a log line). Every other way text comes in (query strings, paths, headers, form
fields, file names) is decoded with replacement characters and cannot carry one.

The check is cheap on the common path: a body is parsed a second time only when its bytes show
a surrogate escape, a surrogate's UTF-8 bytes, or a UTF-16/32 encoding."""

from __future__ import annotations

import json
import re

from chatbot_common.errors import AppError, ErrorCode

# `\u` then D800-DFFF (an escaped backslash followed by such letters also matches: the parse
# that follows tells them apart); or ED A0-BF, the lead bytes of a surrogate in UTF-8.
_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
# Bytes a chunk keeps from the one before, so a pattern split between two chunks is still seen.
TAIL_BYTES = 5


def is_json_body(content_type: bytes | None) -> bool:
    """The bodies FastAPI reads as JSON: no content type at all, application/json, application/*+json."""
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    return not media or media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def may_hold_lone_surrogate(data: bytes, first: bool) -> bool:
    """Whether `data` (the tail of the previous chunk and this chunk) calls for a full check.
    `first`: the body's first bytes, where a UTF-16/32 body shows itself by NULs or a BOM."""
    if first and (b"\x00" in data[:4] or data[:2] in (b"\xff\xfe", b"\xfe\xff")):
        return True
    return _SUSPECT.search(data) is not None


def _valid(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lone_surrogate_field(body: bytes) -> str | None:
    """The dotted path of the first string (or the object holding the key) that is not valid
    Unicode, `body` for the document itself; None when all is valid or the body is not JSON
    (FastAPI answers that one itself)."""
    try:
        document = json.loads(body)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return None
    stack: list[tuple[object, tuple]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if not _valid(value):
                return ".".join(str(p) for p in path) or "body"
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if not _valid(key):
                    return ".".join(str(p) for p in path) or "body"
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in reversed(list(enumerate(value))))
    return None


def not_unicode(field: str) -> AppError:
    """The answer: the one error shape, with the field as the validation errors name theirs."""
    return AppError(ErrorCode.VALIDATION_ERROR, f"{field} is not valid Unicode text (it holds a lone surrogate)",
                    {"errors": [{"field": field, "message": "not valid Unicode: lone surrogate"}]})
