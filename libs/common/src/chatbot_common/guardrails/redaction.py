"""Personal data and secrets taken out of model output and log lines, also while they stream.

`redact(text)` replaces e-mail addresses, phone numbers (valid ones, by `phonenumbers`), payment
card numbers (Luhn), IBANs, national identifiers (US SSN, UK NINO, German tax id, French NIR,
Spanish DNI/NIE, Italian codice fiscale, Dutch BSN, Indian Aadhaar: check digits by
`python-stdnum`), API keys and private keys with a label, and neutralises every image and link to
a host outside an allow-list (`links.py`). The fleet's own identifiers (prefixed ids, UUIDs,
trace and span ids, hex digests) are never rewritten: a digit run inside one is not a card.

`StreamRedactor` does the same to a stream of text pieces: it holds back only a tail that could
still turn into something to redact (an unfinished word, a run of digits, an open Markdown link,
HTML tag or key block) and releases it once the next piece shows what it was, so a value split
across chunks is never released half-redacted, and ordinary words flow through at once.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.de import idnr as _de_idnr
from stdnum.es import dni as _es_dni
from stdnum.es import nie as _es_nie
from stdnum.fr import nir as _fr_nir
from stdnum.in_ import aadhaar as _in_aadhaar
from stdnum.it import codicefiscale as _it_cf
from stdnum.nl import bsn as _nl_bsn

from chatbot_common.guardrails import links
from chatbot_common.guardrails.reading import Reading, may_read_otherwise, open_escape_at, read


def luhn_ok(digits: str) -> bool:
    return _luhn.is_valid(digits)


def iban_ok(value: str) -> bool:
    return _iban.is_valid(value)


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern
    valid: Callable[[str], bool] | None = None
    # A cheap test (text, its digit count) the text must pass before the pattern is worth running.
    worth: Callable[[str, int], bool] = lambda text, digits: True
    # Runs on text whose fleet identifiers are masked (only the number-shaped rules need that).
    masked: bool = True
    # When set, a bare run of digits counts only with this word shortly before it.
    context: re.Pattern | None = None


_NO_DIGITS = str.maketrans("", "", "0123456789")


def count_digits(text: str) -> int:
    return len(text) - len(text.translate(_NO_DIGITS))


def _enough_digits(n: int) -> Callable[[str, int], bool]:
    return lambda text, digits: digits >= n


_SECRET_PREFIXES = ("cbk_", "sk-", "AKIA", "gh", "xox", "AIza", "eyJ")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


# Regions a number written without +country is tried in: those whose national ids are covered.
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN")


@functools.lru_cache(maxsize=4096)  # parsing costs tens of microseconds per region, and replies repeat numbers
def phone_ok(value: str) -> bool:
    """A number some phone could ring: valid for its country (+…) or for one of the regions."""
    if not 9 <= len(_digits(value)) <= 15:
        return False
    regions = (None,) if value.lstrip().startswith("+") else _PHONE_REGIONS
    for region in regions:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(value, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


# UK National Insurance numbers carry no check digit (and python-stdnum has no module for them):
# HMRC's allocation rules are the check. Letters D, F, I, Q, U, V never appear in the prefix, O
# never second, and these prefixes are never issued.
_NINO_NEVER = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _nino_ok(value: str) -> bool:
    return value[:2] not in _NINO_NEVER


def _card_ok(value: str) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


# A private key block: whole; from its BEGIN line to the end when its END line never comes; the
# remains of a cut BEGIN (or END) line with the body after it; a body whose BEGIN line is missing,
# up to its END line; a lone END line. Dashes may be missing (a model asked to leave them out).
_PEM_LABEL = r"[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?"
_PEM_BODY = r"(?:\r?\n[A-Za-z0-9+/=]{16,}[ \t]*)"
_PEM_END = rf"-* ?END {_PEM_LABEL}-*"
_PEM_REMAINS = r"(?:\b[A-Z0-9 ]*PRIVATE|\b(?:RIVATE|IVATE|VATE|ATE|TE|E))? ?(?<!PUBLIC )\bKEY(?: BLOCK)?"
_PEM = re.compile(
    rf"(?:-+ ?BEGIN {_PEM_LABEL}|BEGIN {_PEM_LABEL} ?-+|(?<![^\n])BEGIN {_PEM_LABEL}[ \t]*(?=\r?\n))[\s\S]*?(?:{_PEM_END}|\Z)"
    rf"|-{{2,}} ?END {_PEM_LABEL}-*"
    rf"|{_PEM_REMAINS}-{{2,}}[ \t]*(?:{_PEM_BODY}+(?:\r?\n{_PEM_END})?)?"
    rf"|(?<![A-Za-z0-9+/=])[A-Za-z0-9+/=]{{16,}}[ \t]*{_PEM_BODY}*\r?\n{_PEM_END}")

# Identifiers with check digits, validated by python-stdnum; each written compact or grouped as
# people write it.
_NATIONAL: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    ("NINO", r"(?<!\w)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)", _nino_ok),
    ("DE IDNR", r"(?<![\w.,-])[1-9]\d(?: ?\d{3}){3}(?![\w-]|[.,]\d)", _de_idnr.is_valid),
    ("FR NIR", r"(?<!\w)[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\w)", _fr_nir.is_valid),
    ("ES DNI", r"(?<![\w-])\d{8}[ -]?[A-Z](?!\w)", _es_dni.is_valid),
    ("ES NIE", r"(?<![\w-])[XYZ][ -]?\d{7}[ -]?[A-Z](?!\w)", _es_nie.is_valid),
    ("IT CF", r"(?<!\w)[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?!\w)",
     _it_cf.is_valid),
    ("NL BSN", r"(?<![\w.-])\d{4}\.?\d{2}\.?\d{3}(?!\w|[.-]\d)", _nl_bsn.is_valid),
    ("IN AADHAAR", r"(?<![\w-])[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}(?!\w|[ -]\d)", _in_aadhaar.is_valid),
)
# A bare 9-, 11- or 12-digit run in a log line is far more often a count or a duration than a
# BSN, tax id or Aadhaar number: there it counts only next to a word that names one.
_ID_CONTEXT = re.compile(r"(?i)(?:bsn|burgerservice|sofi|steuer|idnr|identifikation|tax|aadhaar|uidai|national|"
                         r"\bid(?:entity)?[ _-]?(?:no|number|nr|num)\b)")
_CONTEXT_KINDS = frozenset({"DE IDNR", "NL BSN", "IN AADHAAR"})

RULES: tuple[Rule, ...] = (
    Rule("PRIVATE KEY", _PEM, worth=lambda text, digits: "KEY" in text, masked=False),
    Rule("SECRET", re.compile(
        r"(?<![\w-])(?:cbk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
        r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
         worth=lambda text, digits: any(prefix in text for prefix in _SECRET_PREFIXES), masked=False),
    # (bounded as addresses are, 64 characters before the @ and 63 per label: unbounded, a long
    # run of `a.a.a.` cost time quadratic in its length)
    Rule("EMAIL", re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,63}"),
         worth=lambda text, digits: "@" in text, masked=False),
    Rule("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), iban_ok, _enough_digits(4)),
    Rule("CARD", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), _card_ok, _enough_digits(13)),
    Rule("SSN", re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"), worth=_enough_digits(9)),
    *(Rule("NATIONAL ID", re.compile(pattern), check, _enough_digits(4)) for _, pattern, check in _NATIONAL),
    # (not inside a dotted run of numbers: an IP address or a version is nobody's number)
    Rule("PHONE", re.compile(r"(?<![\w+])(?<!\d\.)(?!\d{1,3}(?:\.\d{1,3}){3}(?!\d))"
                             r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w]|\.\d)"),
         phone_ok, _enough_digits(9)),
)
_NATIONAL_PATTERNS = {pattern: kind for kind, pattern, _ in _NATIONAL}

# Nothing below can match text without one of these: most prose skips every rule.
_TRIGGER = re.compile(r"[\d@]|cbk_|sk-|AKIA|gh[pousr]_|xox[abprs]-|AIza|eyJ|KEY")


# For log lines: no links, a phone number only in international form (+…), since logs are full of
# bare digit runs (counts, durations, ports) that are nobody's number, and bare national-id-shaped
# digit runs only next to a word naming one.
LOG_RULES: tuple[Rule, ...] = tuple(
    replace(r, context=_ID_CONTEXT) if _NATIONAL_PATTERNS.get(r.pattern.pattern) in _CONTEXT_KINDS else r
    for r in RULES if r.name != "PHONE") + (
    Rule("PHONE", re.compile(r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w])"),
         phone_ok, _enough_digits(9)),
)


# The fleet's own identifiers, masked while the number-shaped rules run (a document id whose hex
# holds a Luhn-valid digit run is not a card): ids from `ids.new_id` (`doc_`, `msg_`, `usr_`,
# `conv_`, `key_` and 32 hex digits; `chatcmpl-` likewise), UUIDs, W3C traceparents, lowercase hex
# runs of 16 to 128 digits with a letter (trace and span ids, digests, JWT ids), and trace, span
# and request ids named as such. A bare all-digit run stays a number: it may be a card.
_FLEET_IDS = re.compile(
    r"(?<![A-Za-z0-9])[a-z][a-z0-9_]{0,15}[_-][0-9a-f]{32}(?![A-Za-z0-9])"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\b[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\b"
    r"|\b(?=[0-9]*[a-f])[0-9a-f]{16,128}\b"
    r"|\b(?:trace|span|parent(?:_span)?|request)_?id[\"']?\s*[=:]\s*[\"']?(?P<named>[0-9a-f]{16,64})\b")
_MASK_OPEN, _MASK_CLOSE, _MASK_BASE = "\ue000", "\ue001", 0xE100
_MASKED = re.compile("\ue000([\ue100-\uf8ff])\ue001")


_CARD_LIKE = re.compile(r"\d{13}")


def _id_edits(text: str, strict: bool = False) -> list[tuple[int, int, str]]:
    """Where `_mask_ids` masks: (start, end, what goes there) for each fleet identifier."""
    edits: list[tuple[int, int, str]] = []
    if _MASK_OPEN in text:
        return edits  # text that already holds the mask character is left as it is
    for m in _FLEET_IDS.finditer(text):
        if len(edits) >= 0xF8FF - _MASK_BASE:
            break
        if strict:
            token = m.group(0)
            if _CARD_LIKE.search(token):
                continue
            if re.fullmatch(r"[0-9a-f]+", token) and (len(token) not in (16, 32, 40, 64) or sum(c.isalpha() for c in token) < 4):
                continue
        start = m.start("named") if m.group("named") else m.start()
        edits.append((start, m.end(), _MASK_OPEN + chr(_MASK_BASE + len(edits)) + _MASK_CLOSE))
    return edits


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    out: list[str] = []
    last = 0
    for start, end, replacement in edits:
        out += (text[last:start], replacement)
        last = end
    out.append(text[last:])
    return "".join(out)


def _mask_ids(text: str, strict: bool = False) -> tuple[str, list[str]]:
    """`strict` (model output, where an id is rare and a number dressed as one is a leak): an
    "id" holding a run of 13 digits is left to the number rules, and a bare hex run counts only
    at a digest's length (16, 32, 40, 64) with at least four letters."""
    edits = _id_edits(text, strict)
    return _splice(text, edits), [text[start:end] for start, end, _ in edits]


def _unmask_ids(text: str, ids: list[str]) -> str:
    return _MASKED.sub(lambda m: ids[ord(m.group(1)) - _MASK_BASE], text) if ids else text


_SEPARATOR = re.compile(r"(\s+|[-.])")


_RUN_ON = re.compile(r"(?:[ -]?\d)*")


def _valid_prefix(text: str, rule: Rule) -> int | None:
    """A greedy match that fails its check (a card number run into a phone number, an IBAN
    followed by more digits) may start with a valid value: the length of the longest run of
    whole separator-delimited groups at its start that matches and checks out. (A value further
    in is found when the search goes on from the run's next group; trying every start here made
    a long run of digits cost time quadratic in its length.)"""
    parts = _SEPARATOR.split(text)
    tokens, seps = parts[0::2], parts[1::2]
    ends, end = [], 0
    for k, token in enumerate(tokens):
        end += len(token)
        ends.append(end)
        if k < len(seps):
            end += len(seps[k])
    for j in range(len(tokens) - 1, 0, -1):  # the whole run was already rejected
        candidate = text[:ends[j - 1]]
        if rule.pattern.fullmatch(candidate) and (rule.valid is None or rule.valid(candidate)):
            return ends[j - 1]
    return None


# Checked numbers whose greedy match can swallow neighbouring digits (a card run into a phone
# number, an IBAN followed by more digits, a phone number followed by a year): a failed check
# looks inside the run.
_SPLITTABLE = frozenset({"CARD", "IBAN", "PHONE"})


def _rule_edits(rule: Rule, text: str, found: Counter) -> list[tuple[int, int, str]]:
    """What `rule` takes out of `text`: (start, end, what goes there), in order."""
    edits: list[tuple[int, int, str]] = []
    pos = 0
    while (m := rule.pattern.search(text, pos)) is not None:
        value = m.group(0)
        if rule.context and value.isdigit() and not rule.context.search(text, max(0, m.start() - 40), m.start()):
            pos = m.end()
            continue
        if rule.valid is None or rule.valid(value):
            end = m.end()
        elif rule.name in _SPLITTABLE and (prefix := _valid_prefix(value, rule)) is not None:
            end = m.start() + prefix  # the rest of the run is searched again
        else:
            # Nothing valid here: look again from the run's second group, not past the run.
            sep = _SEPARATOR.search(value) if rule.name in _SPLITTABLE else None
            pos = m.start() + sep.end() if sep else max(m.end(), m.start() + 1)
            continue
        if rule.name == "CARD":
            # A card number that runs on into more digits takes the rest of the run with it:
            # which window of the run is the card cannot be told (`1 1 4111 1111 1111 1111`
            # must not leave `1111 1111 1111` behind a redacted `1 1 4111` that checks out).
            end = _RUN_ON.match(text, end).end()
        found[rule.name] += 1
        edits.append((m.start(), end, f"[{rule.name} REDACTED]"))
        pos = end
    return edits


def _apply(rule: Rule, text: str, found: Counter) -> str:
    return _splice(text, _rule_edits(rule, text, found))


class _Traced:
    """A reading being redacted, each character still knowing the written span it came from, so
    that what the rules take out of the reading is taken out of the text as written."""

    def __init__(self, reading: Reading) -> None:
        self.text = reading.text
        self.starts, self.ends = list(reading.starts), list(reading.ends)
        self.marks = [0] * len(self.text)  # 0: read from the text; k: the k-th replacement
        self.replacements: dict[int, tuple[int, int, str]] = {}

    def _same_source(self, a: int, b: int) -> bool:
        return self.starts[a] == self.starts[b] and self.ends[a] == self.ends[b]

    def apply(self, edits: list[tuple[int, int, str]], *, replacing: bool) -> None:
        """`replacing`: the edits take values out (they reach the output); otherwise they only
        mask what the rules must not see (fleet identifiers)."""
        if not edits:
            return
        text, starts, ends, marks = [], [], [], []
        last = 0
        for start, end, replacement in edits:
            # A written character read as several (a ligature, a reference) goes whole or not at all.
            while start > last and self._same_source(start - 1, start):
                start -= 1
            while end < len(self.text) and self._same_source(end - 1, end):
                end += 1
            text.append(self.text[last:start])
            starts += self.starts[last:start]
            ends += self.ends[last:start]
            marks += self.marks[last:start]
            source = min(self.starts[start:end]), max(self.ends[start:end])
            mark = 0
            if replacing:
                mark = len(self.replacements) + 1
                self.replacements[mark] = (*source, replacement)
            text.append(replacement)
            starts += [source[0]] * len(replacement)
            ends += [source[1]] * len(replacement)
            marks += [mark] * len(replacement)
            last = end
        text.append(self.text[last:])
        starts += self.starts[last:]
        ends += self.ends[last:]
        marks += self.marks[last:]
        self.text, self.starts, self.ends, self.marks = "".join(text), starts, ends, marks

    def written(self, original: str) -> str:
        """`original` with the spans whose reading was replaced, replaced."""
        alive = set(self.marks) - {0}
        out: list[str] = []
        pos = 0
        for start, end, replacement in sorted(self.replacements[mark] for mark in alive):
            if end <= pos:
                continue  # inside a span already replaced
            out += (original[pos:max(pos, start)], replacement)
            pos = end
        out.append(original[pos:])
        return "".join(out)


_NOTHING: Counter = Counter()


class Redactor:
    def __init__(self, link_allowlist: Iterable[str] = (), rules: tuple[Rule, ...] = RULES, links: bool = True,
                 strict_ids: bool = True) -> None:
        self.allowed = frozenset(h.lower().strip().strip(".") for h in link_allowlist if h.strip())
        self.rules = rules
        self.links = links
        self.strict_ids = strict_ids  # model output: see _mask_ids; logs pass False

    def redact(self, text: str, *, partial: bool = False) -> tuple[str, Counter]:
        """`partial`: more text follows (a stream), so an HTML tag cut off at the end is
        neutralised whatever it holds.

        Values are looked for in the text as its reader will see it (`reading.py`: character
        references, escapes, compatibility forms and invisible characters decoded) and taken
        out of the text as written."""
        linky = self.links and links.TRIGGER.search(text) is not None
        reading = read(text)
        if not linky and not _TRIGGER.search(reading.text if reading else text):
            return text, _NOTHING
        found: Counter = Counter()
        if linky:
            text = links.neutralise(text, self.allowed, found, partial=partial)
        # As written first (a link's destination, which its reading leaves out), then as read.
        written = self._redact_written(text, found)
        if reading is not None and (written != text or linky):
            reading = read(written)
        if reading is not None and _TRIGGER.search(reading.text):
            written = self._redact_reading(written, reading, found)
        return written, found

    def _redact_written(self, text: str, found: Counter) -> str:
        if not _TRIGGER.search(text):
            return text
        digits = count_digits(text)
        ids: list[str] | None = None
        for rule in self.rules:
            if not rule.worth(text, digits):
                continue
            if rule.masked and ids is None:
                text, ids = _mask_ids(text, self.strict_ids)
            text = _apply(rule, text, found)
        return _unmask_ids(text, ids) if ids else text

    def _redact_reading(self, text: str, reading: Reading, found: Counter) -> str:
        traced = _Traced(reading)
        digits = count_digits(traced.text)
        masked = False
        for rule in self.rules:
            if not rule.worth(traced.text, digits):
                continue
            if rule.masked and not masked:
                traced.apply(_id_edits(traced.text, self.strict_ids), replacing=False)
                masked = True
            traced.apply(_rule_edits(rule, traced.text, found), replacing=True)
        return traced.written(text)


# A tail that may still grow into something to redact: an unfinished word, a run of digits and
# separators, an IBAN or national id start, or an open private key block.
def _word_start(text: str) -> int:
    """Where the unfinished word at the end of `text` starts (len(text): none). Every value is
    written in ASCII as read, so a character of another script (Chinese has no spaces) ends the
    word: such text streams as it comes instead of paragraph by paragraph."""
    start = len(text)
    while start and "!" <= text[start - 1] <= "~":
        start -= 1
    return start
_TAIL_NUMBERS = re.compile(
    r"(?<!\d)[+(]?\d[\d().\- ]*$"  # (not from inside a run of digits: trying each of a long run was quadratic)
    r"|\b[A-Z]{2}\d{2}[A-Z0-9 ]*$"  # IBAN
    r"|(?<![A-Za-z0-9])[A-Z]{1,2}[ -]?(?:\d[\d -]*)?$"  # NINO, NIE
    r"|(?<!\w)[12] ?\d{2} ?\d{2} ?2[AB][\d ]*$")  # NIR born in Corsica
_TAIL_LETTERS = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,2}[ -]?$")
_PEM_BEGIN = re.compile(r"(?:-+ ?)?BEGIN\b")
_PEM_END_DONE = re.compile(rf"-* ?END {_PEM_LABEL}(?:-{{5}}|-*[ \t]*\r?\n)")
# The line being written after a key body: more body, or an END line on its way.
_PEM_PARTIAL_LINE = r"(?:\r?\n(?:[A-Za-z0-9+/=]*|-* ?(?:E(?:N(?:D(?: [A-Z0-9 -]*)?)?)?)?))?\Z"
_PEM_OPEN_BODY = re.compile(
    rf"{_PEM_REMAINS}-*[ \t]*{_PEM_BODY}*{_PEM_PARTIAL_LINE}"
    rf"|(?<![^\n])[A-Za-z0-9+/=]{{16,}}[ \t]*{_PEM_BODY}*{_PEM_PARTIAL_LINE}")
# Text with none of these (and fewer than 4 digits) cannot hold anything to redact nor the start
# of it, except in its last word: it is cut with string operations only.
_SPECIAL = re.compile(r"[@\[\]<]|//|[Ww]{3}\.|[Uu][Rr][Ll]\(|/\S*\?|cbk_|sk-|AKIA|gh[pousr]_|xox[abprs]-|AIza|eyJ|-----|KEY|BEGIN"
                      r"|\b[A-Z]{2}\d|[A-Za-z0-9+/=]{16}")
_DIGIT_RUN = frozenset("0123456789().- ")


def _pem_open_at(text: str) -> int | None:
    begin = None
    for begin in _PEM_BEGIN.finditer(text):
        pass
    if begin is not None:
        line_end = text.find("\n", begin.end())
        if line_end < 0:
            return begin.start()  # the BEGIN line is still coming
        if "PRIVATE KEY" in text[begin.start():line_end] and not _PEM_END_DONE.search(text, line_end):
            return begin.start()  # a key block is held whole until its END line
    if "KEY" in text or "\n" in text:
        if m := _PEM_OPEN_BODY.search(text):
            return m.start()  # a body whose BEGIN line was cut: an END line may follow
    return None


# A long hold (a key block, an open tag, a very long word) is looked at again only once it has
# grown by _RECHECK_EVERY characters or a quarter of its length, whichever is more: each look
# scans (and reads) all of it, and a reply that keeps something open must not cost time quadratic
# in its length (the orchestrator's event loop runs this). Past _MAX_HOLD
# the hold is let go but the last _KEEP_ON_OVERFLOW characters, and what is let go is neutralised
# as a piece that more text follows.
_RECHECK_FROM, _RECHECK_EVERY = 256, 128
# Text longer than this costs milliseconds to redact (tens of them for a long run of digits): an
# event loop hands it to a thread (`StreamRedactor.costly`).
OFF_LOOP_CHARS = 4096
_MAX_HOLD, _KEEP_ON_OVERFLOW = 32768, 4096


class StreamRedactor:
    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = ""
        self._recheck_at = 0
        self.found: Counter = Counter()

    def _hold_from(self, text: str, *, values: bool = True, link_spans: bool = True) -> int:
        """Where to hold `text` from: for `values` (words, digit runs, key blocks, matches not yet
        whole) and for `link_spans` (links, images and tags still open or whole)."""
        cut = len(text)
        if values:
            # Every word is held until it ends, the first one too: `alice` may turn out to be the
            # start of `alice@example.com`.
            cut = _word_start(text)
            if m := _TAIL_NUMBERS.search(text):
                cut = min(cut, m.start())
            if (at := _pem_open_at(text)) is not None:
                cut = min(cut, at)
        if link_spans and self._redactor.links and (at := links.open_at(text)) is not None:
            cut = min(cut, at)
        return self._outside_matches(text, cut, values, link_spans)

    def _outside_both(self, text: str, reading: Reading, cut: int) -> int:
        """The cut moved before any complete match it falls inside, in the text as written or
        as read (a cut taken from one may fall inside a value only the other shows)."""
        seen = reading.text
        digits = count_digits(seen)
        patterns = [rule.pattern for rule in self._redactor.rules if rule.worth(seen, digits)] if _TRIGGER.search(seen) else []
        while True:
            before = cut
            cut = self._outside_matches(text, cut)
            for pattern in patterns:
                for m in pattern.finditer(seen):
                    start, end = reading.span(m.start(), m.end())
                    if start >= cut:
                        break
                    if cut < end:
                        cut = start
            if cut == before:
                return cut

    def _outside_matches(self, text: str, cut: int, values: bool = True, link_spans: bool = True) -> int:
        """Never release the start of a complete match whose end is still held."""
        patterns = []
        if values and _TRIGGER.search(text):
            digits = count_digits(text)
            patterns = [rule.pattern for rule in self._redactor.rules if rule.worth(text, digits)]
        if link_spans and self._redactor.links and links.TRIGGER.search(text):
            patterns.append(links.SPANS)
        moved = True
        while moved and cut:
            moved = False
            for pattern in patterns:
                for m in pattern.finditer(text, 0, len(text)):
                    if m.start() >= cut:
                        break
                    if cut < m.end():
                        cut, moved = m.start(), True
                        break
        return cut

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        if len(text) < self._recheck_at:
            self._pending = text
            return ""
        cut = self._quick_cut(text)
        if cut is not None:  # nothing here can be (part of) something to redact: no rule runs
            self._hold(text, cut)
            return text[:cut]
        # Where to hold from is decided on the text as its reader will see it: a value written
        # with escapes or invisible characters is held like one written plainly, and a cut never
        # falls inside an escape.
        # An escape cut off at the end (of the text as written, or of its reading: `\\u0026#4`)
        # stands in as a digit: it may be the next character of a value, and is held with it.
        body_end = open_escape_at(text)
        body = text if body_end is None else text[:body_end]
        reading = read(body)
        seen = reading.text if reading else body
        seen_end = open_escape_at(seen)
        held_from = len(seen) if seen_end is None else seen_end
        # Values are looked for in the reading (and below in the text as written); links, which
        # the reading shows as their text, in the text as written only.
        cut = self._hold_from(seen[:held_from] + "0" if body_end is not None or seen_end is not None else seen,
                              link_spans=reading is None)
        cut = min(cut, held_from)
        overflow = len(seen) - cut > _MAX_HOLD
        if overflow:
            cut = len(seen) - _KEEP_ON_OVERFLOW
        if reading and not overflow:
            # The text as written is looked at too, as `redact` does: its links, and values the
            # reading joins to what follows (`2671**x` reads `2671x`, no longer a phone number).
            cut = reading.written_at(cut)
            if len(body) - (written_cut := self._hold_from(body)) <= _MAX_HOLD:
                cut = min(cut, written_cut)
            cut = self._outside_both(body, reading, cut)
        elif reading:
            cut = reading.written_at(cut)
        self._hold(text, cut)
        return self._release(text[:cut], partial=True)

    def _hold(self, text: str, cut: int) -> None:
        self._pending = text[cut:]
        held = len(self._pending)
        self._recheck_at = held + max(_RECHECK_EVERY, held // 4) if held >= _RECHECK_FROM else 0

    def _quick_cut(self, text: str) -> int | None:
        """For the common case (prose, or a few digits): where to cut, with string operations
        only. None when the text needs the full check."""
        if count_digits(text) >= 4 or _SPECIAL.search(text) or may_read_otherwise(text):
            return None
        cut = len(text)
        while cut and text[cut - 1] in _DIGIT_RUN:  # a trailing run of digits and separators
            cut -= 1
        if any(ch.isdigit() for ch in text[cut:]):
            while cut and text[cut - 1] in "+(":
                cut -= 1
        else:
            cut = len(text)
        if m := _TAIL_LETTERS.search(text, max(0, cut - 4), cut):  # the letters a NINO or NIE starts with
            cut = min(cut, m.start())
        return min(cut, _word_start(text))  # an unfinished word at the end

    def costly(self, piece: str | None = None) -> bool:
        """Whether feeding `piece` (flushing, for None) will look at more than OFF_LOOP_CHARS
        characters: worth doing off an event loop (a long hold looked at again, or let go)."""
        size = len(self._pending) + len(piece or "")
        return size > OFF_LOOP_CHARS and (piece is None or size >= self._recheck_at)

    def flush(self) -> str:
        text, self._pending, self._recheck_at = self._pending, "", 0
        return self._release(text, partial=False)

    def _release(self, text: str, *, partial: bool) -> str:
        if not text:
            return ""
        out, found = self._redactor.redact(text, partial=partial)
        self.found.update(found)
        return out
