"""Text as its reader will see it, with a map back to what was written.

A value the output filter must take out can be written so that no pattern matches the bytes, yet
every reader turns it back into the value: a character reference (`alice&#64;example.com`, read
as `@` by Markdown and HTML), a backslash escape (`alice\\@example.com`, Markdown), a JSON or
JavaScript escape (`alice\\u0040example.com`, decoded by every JSON parser of a `/v1` JSON-mode
answer), a percent escape (`alice%40example.com`), a compatibility form (fullwidth `＠` and
digits, a no-break space between a card's groups, the digits of other scripts, dashes), an
invisible character inside the value (zero width space, soft hyphen, bidi marks, variation
selectors, fillers), emphasis and code markers that the renderer drops (`**alice**@example.com`,
`4111 _1111_ 1111 1111`), an empty link between two halves (`alice[](#)@example.com`) or math
(`$\\text{alice}@\\text{example}.\\text{com}$`).

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
# what the reader shows as text. A Markdown link or image reads as its text (what the page shows:
# `alice[](#)@example.com` is the address); its destination is looked at in the text as written.
# Math reads as KaTeX draws it: commands and braces gone, spacing commands as spaces, the spaces
# of math mode gone. `_` marks emphasis only at the edge of a word (`msg_0123` keeps it).
_READS = re.compile(
    r"(?:```|~~~)math[ \t]*\n(?P<fmath>[\s\S]{0,4000}?)\n(?:```|~~~)"
    r"|\$\$(?P<dmath>[^$]{1,4000}?)\$\$|\$(?P<math>(?:[^$\n]|\n(?![ \t]*\n)){1,2000}?)\$"
    r"|(?<=\])\((?P<dest>(?:[^()\\]|\\[\s\S]|\((?:[^()\\]|\\[\s\S]|\((?:[^()\\]|\\[\s\S])*\))*\)){0,2000})\)"
    r"|(?P<redacted>\[[A-Z][A-Z ]{0,24} (?:REDACTED|removed)\])"
    r"|(?P<bracket>!?\[|\])"
    r"|\\u(?P<high>[dD][89abAB][0-9a-fA-F]{2})\\u(?P<low>[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u(?P<u>[0-9a-fA-F]{4})"
    r"|\\(?P<punct>[!-/:-@\[-`{-~])"
    r"|(?P<ref>&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[A-Za-z][A-Za-z0-9]{1,31});?)"
    r"|%(?P<pct>[0-9a-fA-F]{2})"
    r"|(?P<marker>[*~`]|(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9]))"
    r"|(?P<wide>[^\x00-\x7f]+)")
# Quick test: ASCII text without any of these reads as written.
_ESCAPES = re.compile(r"[\\&%*~`$\[\]_]")
_MARKUP = frozenset("<>&\"'")
# Invisible in the answer, so dropped from the reading: the format characters (Unicode category
# Cf: zero width space and joiners, soft hyphen, bidi marks, tag characters, the BOM) and the
# other default-ignorable code points (variation selectors, fillers, the combining grapheme
# joiner, Hangul and Khmer fillers), as of Unicode 15.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
# Characters that read as an ASCII digit or a hyphen though compatibility folding keeps them:
# the decimal digits of other scripts, dashes and the minus sign.
_LOOKALIKE = re.compile(r"[^\x00-\x7f\D]|[\u058a\u05be\u1400\u1806\u2010-\u2015\u2212\u2e17\u2e1a\u2e3a\u2e3b\u2e40"
                        "\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d]")
_MAX_ROUNDS = 3

# An escape that the end of a piece may have cut off: it may still become a character of a value.
_OPEN_ESCAPE = re.compile(
    r"(?:&(?:#[0-9]{0,7}|#[xX][0-9a-fA-F]{0,6}|[A-Za-z][A-Za-z0-9]{0,30})?"
    r"|\\(?:u(?:[0-9a-fA-F]{0,3}|[dD][89abAB][0-9a-fA-F]{2}(?:\\(?:u[0-9a-fA-F]{0,3})?)?)?)?"
    r"|%[0-9a-fA-F]?)\Z")
# A link's `]` or destination not closed yet: it may turn out to read as nothing.
_OPEN_DEST = re.compile(r"\](?:\((?:[^()\\]|\\[\s\S]|\((?:[^()\\]|\\[\s\S])*\)?)*)?\Z")
# Math whose closing `$` has not come yet, holding what could be part of a value.
_OPEN_MATH = re.compile(r"\$\$?(?:[^$\n]|\n(?![ \t]*\n)){0,400}\Z")
_MATH_FENCE = re.compile(r"(?:```|~~~)[ \t]*math\b")
_MATH_VALUE = re.compile(r"[\\{}@]|(?:\d\D{0,3}){4}")


def open_escape_at(text: str) -> int | None:
    """Where an escape or reference cut off by the end of `text` starts, if one may be; also a
    link's destination not closed yet, and math still open when it holds what a value is made of
    (the earliest of them)."""
    found: list[int] = []
    if m := _OPEN_ESCAPE.search(text, max(0, len(text) - 40)):
        found.append(m.start())
    if "]" in text and (m := _OPEN_DEST.search(text, max(0, len(text) - 2000))):
        found.append(m.start())
    if "$" in text and (m := _OPEN_MATH.search(text, max(0, len(text) - 402))) and _MATH_VALUE.search(m.group(0)):
        found.append(m.start())
    if "math" in text:  # a math fence not closed yet
        for m in reversed(list(_MATH_FENCE.finditer(text, max(0, len(text) - 4100)))):
            line_end = text.find("\n", m.end())
            if line_end < 0 or ("```" not in text[line_end:] and "~~~" not in text[line_end:]):
                found.append(m.start())
            break
    return min(found, default=None)


# Math as KaTeX draws it. Spacing (with its size) is a space; \char draws the character it
# names; a macro defined in the formula (\def, \newcommand) draws its body; style commands
# (\text, \mathrm, ...) leave their content; any other command, sub- and superscripts, alignment
# and the parts of a fraction (\frac{1}{415}) separate what is on either side; math mode's own
# spaces are not drawn.
_TEX_DEFINE = re.compile(r"\\(?:[gex]?def|let)\s*\\([A-Za-z]+)\s*=?\s*(?:\{([^{}]*)\}|(\\?[^\s{}]))"
                         r"|\\(?:re)?(?:newcommand|providecommand)\*?\s*\{?\\([A-Za-z]+)\}?\s*(?:\[\d\])?\s*\{([^{}]*)\}")
_TEX_CHAR = re.compile(r"\\char\s*(?:\"([0-9A-Fa-f]{1,6})|'([0-7]{1,8})|([0-9]{1,7}))")
_TEX_SPACE = re.compile(r"\\(?:[hv]space|hskip|kern|mkern|mskip|[hv]?phantom)\*?\s*(?:\{[^{}]*\}|[-+]?[0-9.]+\s*[a-z]{2})"
                        r"|\\(?:q?quad|enspace|thinspace|medspace|thickspace|space|nobreakspace)\b|\\[,;:> ]|~")
_TEX_STYLE = re.compile(r"\\(?:text(?:rm|bf|it|sf|tt|normal|up)?|math(?:rm|bf|it|sf|tt|normal|bb|cal|frak|scr)|mbox|hbox|operatorname"
                        r"|boldsymbol|bm|rm|bf|it|sf|tt|displaystyle|textstyle|scriptstyle|left|right|big|Big|bigg|Bigg)\b\*?")
_TEX_TWO_PARTS = re.compile(r"\\(?:[dtc]?frac|binom|[dt]binom|overset|underset|stackrel)\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEX_SEPARATE = re.compile(r"\\[A-Za-z]+\*?|\\\\|[_^&]")
_TEX_DROP = re.compile(r"[{}\s]")


def _tex(math: str) -> str:
    """Math as KaTeX draws it, near enough to find a value: `\\text{alice}@\\text{example}.\\text{com}`
    reads `alice@example.com`, `4111\\,1111` reads `4111 1111`, `\\frac{1}{415}` reads `1|415`."""
    macros: dict[str, str] = {}

    def define(m: re.Match) -> str:
        name = m.group(1) or m.group(4)
        macros[name] = next((g for g in (m.group(2), m.group(3), m.group(5)) if g is not None), "")
        return ""

    math = _TEX_DEFINE.sub(define, math)
    for name, body in macros.items():
        math = re.sub(r"\\" + name + r"(?![A-Za-z])", lambda _m, body=body: body, math)
    math = _TEX_CHAR.sub(lambda m: _char(int(m.group(1), 16) if m.group(1) else int(m.group(2), 8) if m.group(2) else int(m.group(3)))
                         or "", math)
    math = _TEX_SPACE.sub("\x00", math)
    math = _TEX_TWO_PARTS.sub(lambda m: f"\x01{m.group(1)}\x01{m.group(2)}\x01", math)
    math = _TEX_STYLE.sub("", math)
    math = re.sub(r"\\([#$%&_{}])", "\x02\\1", math)  # escaped characters are drawn as themselves
    math = _TEX_DROP.sub("", _TEX_SEPARATE.sub("\x01", math))
    return math.replace("\x02", "").replace("\x00", " ").replace("\x01", "|")


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
    plain = unicodedata.normalize("NFKC", ch)
    if len(plain) == 1 and not plain.isascii():
        if (digit := unicodedata.decimal(plain, None)) is not None:
            return str(digit)  # ٤ (Arabic-Indic four) reads as 4
        if unicodedata.category(plain) == "Pd" or plain == "\u2212":
            return "-"
    return plain


def _decoded(m: re.Match) -> str | None:
    """What the reader makes of the construct `m` matched; None: it reads as written."""
    group = m.lastgroup
    if group == "redacted":
        return None  # the filter's own marker reads as written (redacting twice changes nothing)
    if group == "marker":
        return ""
    if group in ("bracket", "dest"):
        return ""  # a link or image reads as its text (`]` then `(destination)` are not shown)
    if group in ("math", "dmath", "fmath"):
        return _tex(m.group(group))
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

    def written_at(self, pos: int) -> int:
        """Where in the written text a cut at the reading's position `pos` falls: right after
        what the character before it was read from, so that what reads as nothing between the
        two (a `[`, emphasis markers, an invisible character) is held with what follows."""
        return self.ends[pos - 1] if pos else 0


def _invisible(run: str) -> bool:
    return _INVISIBLE.search(run) is not None


def may_read_otherwise(text: str) -> bool:
    """Whether `text` can read other than as written (cheap; False is certain)."""
    if text.isascii():
        return _ESCAPES.search(text) is not None
    # Non-ASCII text in compatibility form with nothing invisible reads as written unless it
    # also holds an escape or a marker.
    return (_ESCAPES.search(text) is not None or not unicodedata.is_normalized("NFKC", text) or _invisible(text)
            or _LOOKALIKE.search(text) is not None)


def _one_round(text: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]] | None:
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    changed = False
    for m in _READS.finditer(text):
        if m.lastgroup == "wide":  # a run of non-ASCII characters: each read on its own
            run = m.group(0)
            if unicodedata.is_normalized("NFKC", run) and not _invisible(run) and not _LOOKALIKE.search(run):
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
