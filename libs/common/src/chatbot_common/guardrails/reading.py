"""Text as its reader will see it, with a map back to what was written.

A value the output filter must take out can be written so that no pattern matches the bytes, yet
every reader turns it back into the value: a character reference (`alice&#64;example.com`, read
as `@` by Markdown and HTML), a backslash escape (`alice\\@example.com`, Markdown), a JSON or
JavaScript escape (`alice\\u0040example.com`, decoded by every JSON parser of a `/v1` JSON-mode
answer), a percent escape (`alice%40example.com`), a compatibility form (fullwidth `＠` and
digits, a no-break space between a card's groups), an invisible character inside the value (zero
width space, soft hyphen, bidi marks, variation selectors) or emphasis and code markers that the
renderer drops (`**alice**@example.com`, `4111*1111*1111*1111`).

`read(text)` returns the text so decoded (repeatedly: a JSON escape of a character reference is
read twice), with, for each character of it, the span of `text` it came from. The filter looks
for values in the reading and replaces the spans they came from in the text as written; the rest
of the text is left exactly as it was (decoding all of it would change what the answer says:
an escaped `\\*` would become emphasis, a `\\"` in a code sample would lose its backslash).
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass

# What a reader decodes, scanned left to right so that `\\u0040` stays a backslash then `u0040`
# (JSON and Markdown agree on that). Markup characters from references (< > & " ') are not
# decoded: they cannot be part of a value, and decoding them would make a tag or a reference of
# what the reader shows as text.
_READS = re.compile(
    r"\\u\{(?P<brace>[0-9a-fA-F]{1,6})\}"
    r"|\\u(?P<high>[dD][89abAB][0-9a-fA-F]{2})\\u(?P<low>[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u(?P<u>[0-9a-fA-F]{4})"
    r"|\\x(?P<x>[0-9a-fA-F]{2})"
    r"|\\(?P<punct>[!-/:-@\[-`{-~])"
    r"|(?P<ref>&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[A-Za-z][A-Za-z0-9]{1,31});?)"
    r"|%(?P<pct>[0-9a-fA-F]{2})"
    r"|(?P<marker>[*~`])"
    r"|(?P<wide>[^\x00-\x7f]+)")
# Quick test: text without any of these reads as written.
_ESCAPES = re.compile(r"[\\&%*~`]")
_MARKUP = frozenset("<>&\"'")
# Invisible in the answer, so dropped from the reading: format characters (zero width space and
# joiners, soft hyphen, bidi marks, tag characters, the BOM), variation selectors, the combining
# grapheme joiner.
# (the format characters, Unicode category Cf, as of Unicode 15)
_INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    "\ufe00-\ufe0f\U000e0100-\U000e01ef\u034f]")
_MAX_ROUNDS = 3


# An escape that the end of a piece may have cut off: it may still become a character of a value.
_OPEN_ESCAPE = re.compile(
    r"(?:&(?:#[0-9]{0,7}|#[xX][0-9a-fA-F]{0,6}|[A-Za-z][A-Za-z0-9]{0,30})?"
    r"|\\(?:u(?:\{[0-9a-fA-F]{0,6}|[0-9a-fA-F]{0,3}|[dD][89abAB][0-9a-fA-F]{2}(?:\\(?:u[0-9a-fA-F]{0,3})?)?)?|x[0-9a-fA-F]?)?"
    r"|%[0-9a-fA-F]?)\Z")


def open_escape_at(text: str) -> int | None:
    """Where an escape or reference cut off by the end of `text` starts, if one may be."""
    m = _OPEN_ESCAPE.search(text, max(0, len(text) - 40))
    return m.start() if m else None


def _char(code: int) -> str | None:
    if 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return chr(code)
    return None


@functools.lru_cache(maxsize=8192)
def _plain(ch: str) -> str:
    """A character as it reads: its compatibility form, nothing for one that is not seen."""
    if ch.isascii():
        return ch
    if unicodedata.category(ch) == "Cf" or _INVISIBLE.match(ch):
        return ""
    return unicodedata.normalize("NFKC", ch)


def _decoded(m: re.Match) -> str | None:
    """What the reader makes of the construct `m` matched; None: it reads as written."""
    group = m.lastgroup
    if group == "marker":
        return ""
    if group == "punct":
        return m.group("punct")
    if group == "ref":
        ch = html.unescape(m.group(0))
        return _plain(ch) if ch != m.group(0) and len(ch) == 1 and ch not in _MARKUP else None
    if group == "low":  # a surrogate pair (the alternative's last group)
        ch = _char(0x10000 + ((int(m.group("high"), 16) - 0xD800) << 10) + (int(m.group("low"), 16) - 0xDC00))
    else:
        ch = _char(int(m.group(group), 16))
    if ch is None or ch in _MARKUP and group == "pct" or group == "pct" and not ("!" <= ch <= "~"):
        return None  # a percent escape counts for printable ASCII only (`100%20` is not a space)
    return _plain(ch)


@dataclass(frozen=True)
class Reading:
    text: str  # what the reader sees
    starts: list[int]  # for each character of it, the span of the written text it came from
    ends: list[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The written span that reading[start:end] came from (end > start)."""
        return min(self.starts[start:end]), max(self.ends[start:end])

    def written_at(self, pos: int, written_length: int) -> int:
        """Where in the written text the reading's position `pos` falls (a cut made there)."""
        return self.starts[pos] if pos < len(self.text) else written_length


def _invisible(run: str) -> bool:
    return _INVISIBLE.search(run) is not None


def may_read_otherwise(text: str) -> bool:
    """Whether `text` can read other than as written (cheap; False is certain)."""
    if text.isascii():
        return _ESCAPES.search(text) is not None
    # Non-ASCII text in compatibility form with nothing invisible reads as written unless it
    # also holds an escape or a marker.
    return (_ESCAPES.search(text) is not None or not unicodedata.is_normalized("NFKC", text) or _invisible(text))


def _one_round(text: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]] | None:
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    changed = False
    for m in _READS.finditer(text):
        if m.lastgroup == "wide":  # a run of non-ASCII characters: each read on its own
            run = m.group(0)
            if unicodedata.is_normalized("NFKC", run) and not _invisible(run):
                continue
            pieces = [(m.start() + i, m.start() + i + 1, plain) for i, ch in enumerate(run) if (plain := _plain(ch)) != ch]
        elif (decoded := _decoded(m)) is not None:
            pieces = [(m.start(), m.end(), decoded)]
        else:
            continue
        for at, end, decoded in pieces:
            changed = True
            out.append(text[last:at])
            new_starts += starts[last:at]
            new_ends += ends[last:at]
            if decoded:
                span_start, span_end = min(starts[at:end]), max(ends[at:end])
                out.append(decoded)
                new_starts += [span_start] * len(decoded)
                new_ends += [span_end] * len(decoded)
            last = end
    if not changed:
        return None
    out.append(text[last:])
    new_starts += starts[last:]
    new_ends += ends[last:]
    return "".join(out), new_starts, new_ends


def read(text: str) -> Reading | None:
    """The reading of `text`, or None when it reads as written."""
    if not may_read_otherwise(text):
        return None
    starts, ends = list(range(len(text))), list(range(1, len(text) + 1))
    current = text
    for _ in range(_MAX_ROUNDS):
        step = _one_round(current, starts, ends)
        if step is None:
            break
        current, starts, ends = step
    return None if current == text else Reading(current, starts, ends)
