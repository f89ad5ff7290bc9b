"""Text as every service needs it before it leaves the process (gRPC, databases, tokenizers)."""

from __future__ import annotations


def valid_text(text: str) -> str:
    """`text` as valid Unicode: surrogate pairs joined into their character, lone surrogates
    replaced by U+FFFD. Parsers can hand back surrogates (pypdf decodes a font's ToUnicode map
    with `surrogatepass`), and such a string cannot be encoded for gRPC, a database or a tokenizer."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
