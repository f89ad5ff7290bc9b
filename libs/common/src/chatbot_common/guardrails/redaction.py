"""Personal data and secrets taken out of model output, also while it streams.

`redact(text)` replaces e-mail addresses, phone numbers, payment card numbers (Luhn-checked),
IBANs (mod-97-checked), US social security numbers, API keys and private keys with a label,
and neutralises Markdown images, and links carrying data, that point outside an allow-list
(an image loads by itself, so it can carry a conversation out to any host).

`StreamRedactor` does the same to a stream of text pieces: it holds back only a tail that could
still turn into something to redact (an unfinished word, a run of digits, an open Markdown
link) and releases it once the next piece shows what it was, so a number split across two
chunks is never released half-redacted, and ordinary words flow through at once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1
    except ValueError:
        return False


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern
    valid: Callable[[str], bool] | None = None
    # A cheap test (text, its digit count) the text must pass before the pattern is worth running.
    worth: Callable[[str, int], bool] = lambda text, digits: True


_NO_DIGITS = str.maketrans("", "", "0123456789")


def count_digits(text: str) -> int:
    return len(text) - len(text.translate(_NO_DIGITS))


def _enough_digits(n: int) -> Callable[[str, int], bool]:
    return lambda text, digits: digits >= n


_SECRET_PREFIXES = ("cbk_", "sk-", "AKIA", "gh", "xox", "AIza", "eyJ")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


RULES: tuple[Rule, ...] = (
    Rule("PRIVATE KEY", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
         worth=lambda text, digits: "-----BEGIN" in text),
    Rule("SECRET", re.compile(
        r"(?<![\w-])(?:cbk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
        r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
         worth=lambda text, digits: any(prefix in text for prefix in _SECRET_PREFIXES)),
    Rule("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), worth=lambda text, digits: "@" in text),
    Rule("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), iban_ok, _enough_digits(4)),
    Rule("CARD", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), lambda m: 13 <= len(_digits(m)) <= 19 and luhn_ok(_digits(m)),
         _enough_digits(13)),
    Rule("SSN", re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"), worth=_enough_digits(9)),
    Rule("PHONE", re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w])"),
         lambda m: 9 <= len(_digits(m)) <= 15, _enough_digits(9)),
)
# Nothing below can match text without one of these: most prose skips every rule.
_TRIGGER = re.compile(r"[\d@\[]|cbk_|sk-|AKIA|gh[pousr]_|xox[abprs]-|AIza|eyJ|-----BEGIN")
_NOTHING: Counter = Counter()
# Characters that start anything but numbers: e-mail, Markdown, key prefixes and key blocks.
_SPECIAL = re.compile(r"[@\[]|cbk_|sk-|AKIA|gh[pousr]_|xox[abprs]-|AIza|eyJ|-----|\b[A-Z]{2}\d")
_DIGIT_RUN = frozenset("0123456789().- ")
_MD_IMAGE = re.compile(r"!\[([^\]\n]{0,300})\]\(\s*<?([^)\s>]{1,2000})>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_LINK = re.compile(r"(?<!!)\[([^\]\n]{0,300})\]\(\s*<?([^)\s>]{1,2000})>?(?:\s+\"[^\"]*\")?\s*\)")


def _host_allowed(url: str, allowed: frozenset[str]) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if not host:
        return True  # a relative link stays on this site
    return any(host == a or host.endswith("." + a) for a in allowed)


# For log lines: no Markdown handling, and a phone number only in international form (+…), since
# logs are full of bare digit runs (counts, durations, ports) that are nobody's number.
LOG_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.name != "PHONE") + (
    Rule("PHONE", re.compile(r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w])"),
         lambda m: 9 <= len(_digits(m)) <= 15, _enough_digits(9)),
)


_SEPARATOR = re.compile(r"(\s+|[-.])")


def _valid_parts(text: str, rule: Rule, found: Counter) -> str:
    """A greedy match that fails its check (a card number run into a phone number, an IBAN
    followed by more digits) may still contain a valid value: the longest runs of whole
    separator-delimited groups that match and check out are redacted, the rest kept."""
    parts = _SEPARATOR.split(text)
    tokens, seps = parts[0::2], parts[1::2]
    n = len(tokens)
    if n < 2:
        return text
    out: list[str] = []
    i = 0
    while i < n:
        end = i + 1
        for j in range(n if i else n - 1, i, -1):  # the whole run was already rejected
            candidate = "".join(t + (seps[k] if k < j - 1 else "") for k, t in enumerate(tokens[i:j], start=i))
            if rule.pattern.fullmatch(candidate) and (rule.valid is None or rule.valid(candidate)):
                out.append(f"[{rule.name} REDACTED]")
                found[rule.name] += 1
                end = j
                break
        else:
            out.append(tokens[i])
        if end < n:
            out.append(seps[end - 1])
        i = end
    return "".join(out)


# Checked numbers whose greedy match can swallow neighbouring digits (a card run into a phone
# number, an IBAN followed by more digits): a failed check looks inside the run.
_SPLITTABLE = frozenset({"CARD", "IBAN"})


def _apply(rule: Rule, text: str, found: Counter) -> str:
    out: list[str] = []
    last = pos = 0
    while (m := rule.pattern.search(text, pos)) is not None:
        value = m.group(0)
        if rule.valid is None or rule.valid(value):
            replacement = f"[{rule.name} REDACTED]"
            found[rule.name] += 1
        elif rule.name in _SPLITTABLE and (replacement := _valid_parts(value, rule, found)) != value:
            pass
        else:
            # Nothing valid here: look again from the run's second group, not past the run.
            sep = _SEPARATOR.search(value) if rule.name in _SPLITTABLE else None
            pos = m.start() + sep.end() if sep else max(m.end(), m.start() + 1)
            continue
        out.append(text[last:m.start()])
        out.append(replacement)
        last = pos = m.end()
    out.append(text[last:])
    return "".join(out)


class Redactor:
    def __init__(self, link_allowlist: Iterable[str] = (), rules: tuple[Rule, ...] = RULES, links: bool = True) -> None:
        self.allowed = frozenset(h.lower().lstrip(".") for h in link_allowlist)
        self.rules = rules
        self.links = links

    def redact(self, text: str) -> tuple[str, Counter]:
        if not _TRIGGER.search(text):
            return text, _NOTHING
        found: Counter = Counter()

        def image(m: re.Match) -> str:
            if _host_allowed(m.group(2), self.allowed):
                return m.group(0)
            found["IMAGE"] += 1
            return f"[image removed: {m.group(1)}]" if m.group(1) else "[image removed]"

        def link(m: re.Match) -> str:
            url = m.group(2)
            if _host_allowed(url, self.allowed) or not ("?" in url or "#" in url):
                return m.group(0)
            found["LINK"] += 1
            return f"{m.group(1)} [link removed]"

        if self.links and "](" in text:
            text = _MD_IMAGE.sub(image, text)
            text = _MD_LINK.sub(link, text)
        digits = count_digits(text)
        for rule in self.rules:
            if not rule.worth(text, digits):
                continue
            text = _apply(rule, text, found)
        return text, found


# A tail that may still grow into something to redact: an unfinished word, a run of digits
# and separators, an IBAN start, an open Markdown image or link, or an
# open private key block.
_TAIL_WORD = re.compile(r"\S+$")
_TAIL_DIGITS = re.compile(r"[+(]?\d[\d().\- ]*$")
_TAIL_IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9 ]*$")
_TAIL_MARKDOWN = re.compile(r"!?\[[^\]\n]{0,300}(?:\]\([^)\n]{0,2000})?$")
_KEY_OPEN = "-----BEGIN"


class StreamRedactor:
    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pending = ""
        self._released_any = False
        self.found: Counter = Counter()

    def _hold_from(self, text: str) -> int:
        cut = len(text)
        word = _TAIL_WORD.search(text)
        first_word_alone = not self._released_any and word is not None and word.start() == 0 and word.group(0).isalpha()
        if word and not first_word_alone:
            cut = word.start()  # (a stream's very first plain word goes out at once: time to first token)
        # Any trailing run of digits: released in pieces, a number could be too short to
        # recognise in each piece.
        if digits := _TAIL_DIGITS.search(text):
            cut = min(cut, digits.start())
        for pattern in (_TAIL_IBAN, _TAIL_MARKDOWN):
            if m := pattern.search(text):
                cut = min(cut, m.start())
        key = text.rfind(_KEY_OPEN)
        if key >= 0 and "-----END" not in text[key:]:
            cut = min(cut, key)  # a PEM block is held whole until its end line
        # Never release the start of a complete match whose end is still held.
        digits = count_digits(text)
        for rule in RULES if _TRIGGER.search(text) else ():
            if not rule.worth(text, digits):
                continue
            for m in rule.pattern.finditer(text):
                if m.start() < cut < m.end():
                    cut = m.start()
        return cut

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        cut = self._quick_cut(text)
        if cut is not None:  # nothing here can be (part of) something to redact: no rule runs
            self._pending = text[cut:]
            if cut:
                self._released_any = True
            return text[:cut]
        cut = self._hold_from(text)
        self._pending = text[cut:]
        return self._release(text[:cut])

    def _quick_cut(self, text: str) -> int | None:
        """For the common case (prose, or a few digits): where to cut, with string operations
        only. None when the text needs the full check."""
        if _SPECIAL.search(text) or count_digits(text) >= 4:
            return None
        cut = len(text)
        while cut and text[cut - 1] in _DIGIT_RUN:  # a trailing run of digits and separators
            cut -= 1
        if any(ch.isdigit() for ch in text[cut:]):
            while cut and text[cut - 1] in "+(":
                cut -= 1
        else:
            cut = len(text)
        end = len(text.rstrip())
        if end == len(text):  # an unfinished word at the end
            start = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
            if not (not self._released_any and start == 0 and text.isalpha()):
                cut = min(cut, start)
        return cut

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._release(text)

    def _release(self, text: str) -> str:
        if not text:
            return ""
        out, found = self._redactor.redact(text)
        self.found.update(found)
        self._released_any = True
        return out
