"""System-prompt leak detection: a random canary at the very head of the system prompt, and a
guard on the reply that stops it before any of the protected text leaves.

The canary is the first thing in the prompt, so a model that quotes its instructions from the
start reveals the canary before anything else. A quotation from further in is caught as a run of
the protected text itself: `LeakGuard` compares the reply with the prompt on a normalised form
(letters and digits only, case-folded, compatibility forms folded, invisible characters gone),
so "S y s t e m", "s-y-s-t-e-m" and "SYSTEM" compare alike, and it also reads base64 runs
decoded and the canary reversed or rot13'd. It releases text as it comes, except a tail that
could still turn out to be protected: the part of the reply that so far matches a run of the
prompt (released once the run breaks) or the start of the canary. A run of `min_run` characters,
or the canary, is a leak: nothing of it was released, and the guard releases nothing more.

Quoted phrases inside the system prompt ('always end with "Thank you for calling ACME"') are what
the model is meant to say, so they are not protected."""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import json
import re
import secrets
import string
import unicodedata
from collections import deque
from functools import lru_cache
from urllib.parse import unquote

MIN_RUN = 40  # alphanumeric characters of the prompt, in order: about eight words
LEAK_STOPPED = "the reply was stopped: it disclosed protected instructions"


def new_canary() -> str:
    """`cnry-` and 20 random lowercase letters (94 bits). Letters only: the output redactor
    never rewrites it, and a digit run could pass the card/phone checks."""
    return "cnry-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(20))


def guarded_system_prompt(system_prompt: str, canary: str) -> str:
    return f"{canary}\n{system_prompt}"


_CANARY = re.compile(r"cnry-[a-z]{20}")


def canary_of(system_prompt: str) -> str | None:
    """The canary heading a prompt that `guarded_system_prompt` made, if it is one."""
    head = system_prompt.split("\n", 1)[0]
    return head if _CANARY.fullmatch(head) else None


def discloses(text: str, canary: str | None, protected: str) -> bool:
    """Whether a whole text the model wrote for somewhere else than the reply (a tool call's
    arguments: a URL, a mail's body; a tool's name) discloses the protected prompt. It is read as
    written; with its JSON string values decoded (an escaped newline would split a run), in
    order, each with its keys and also the values alone and the keys alone (a prompt split
    across several values reads whole without the keys between them); and each reading
    percent-decoded (a URL query) and HTML-unescaped (`&#x59;`, `&amp;`) as often as that
    changes it (a few times: encoded twice is read too)."""
    readings = [text]
    try:
        strings = _strings(json.loads(text))
    except (ValueError, RecursionError):
        strings = []
    if strings:
        readings += ["\n".join(s for s, _ in strings), "\n".join(s for s, key in strings if not key),
                     "\n".join(s for s, key in strings if key)]
    seen: set[str] = set()
    for reading in readings:
        for decoded in _decodings(reading):
            if decoded in seen:
                continue
            seen.add(decoded)
            guard = LeakGuard(canary or new_canary(), protected)
            guard.feed(decoded)
            guard.flush()
            if guard.leaked:
                return True
    return False


_DECODE_ROUNDS = 4  # encodings undone in a row at most: each round is one pass over the text


def _decodings(text: str) -> list[str]:
    """`text`, and what it becomes percent-decoded and HTML-unescaped, round after round until
    nothing changes (bounded)."""
    out = [text]
    for _ in range(_DECODE_ROUNDS):
        current = out[-1]
        decoded = unquote(current) if "%" in current else current
        decoded = html.unescape(decoded) if "&" in decoded else decoded
        if decoded == current:
            break
        out.append(decoded)
    return out


def _strings(value) -> list[tuple[str, bool]]:
    """The strings of decoded JSON in document order (each key before its value), each with
    whether it is a key."""
    out: list[tuple[str, bool]] = []
    stack: list[tuple[object, bool]] = [(value, False)]
    while stack:
        item, key = stack.pop()
        if isinstance(item, str):
            out.append((item, key))
        elif isinstance(item, dict):
            for k, v in reversed(list(item.items())):
                stack.append((v, False))
                if isinstance(k, str):
                    stack.append((k, True))
        elif isinstance(item, list):
            stack.extend((v, False) for v in reversed(item))
    return out


_QUOTED = re.compile(r"\"[^\"\n]{1,300}\"|“[^”\n]{1,300}”|(?<!\w)'[^'\n]{1,300}'(?!\w)")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_RUN_CHARS = frozenset(string.ascii_letters + string.digits + "+/_=-")
_HOLD_RUN_LIMIT = 256
HOLD_LIMIT = 1024  # raw characters held back at most
PROTECT_LIMIT = 16_384  # normalised characters of the prompt compared
_RECENT = 64


def _keys(text: str) -> tuple[str, list[int]]:
    """The normalised form of `text` (alphanumerics, folded) and, for each of its characters,
    the index in `text` it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            if ch.isalnum():
                out.append(ch.lower())
                where.append(i)
            continue
        for c in unicodedata.normalize("NFKC", ch).lower():
            if c.isalnum():
                out.append(c)
                where.append(i)
    return "".join(out), where


def normalised(text: str) -> str:
    return _keys(text)[0]


class LeakGuard:
    """Linear in the reply: each character of the normalised reply is looked at once (the run it
    extends is kept between pieces), and what is held is bounded (`HOLD_LIMIT` characters: a
    run padded out further has released fewer than `min_run` characters of the prompt, which is
    not yet a leak, and is still followed). Only the first `PROTECT_LIMIT` normalised characters
    of a very long prompt are compared; the canary at its head covers the rest of a quotation
    from the start."""

    def __init__(self, canary: str, protected: str = "", min_run: int = MIN_RUN) -> None:
        body = normalised(canary.removeprefix("cnry-"))
        self._targets = tuple({normalised(canary), body, codecs.encode(body, "rot13"), body[::-1]})
        self._target_ends = frozenset(t[-1] for t in self._targets if t)
        self._protected = normalised(_QUOTED.sub(" ", protected))[:PROTECT_LIMIT]
        self._prompt = _Substrings.of(self._protected) if self._protected else None
        self._min_run = min_run
        self._pending = ""
        self._offset = 0  # where `_pending` starts in the whole reply
        self._run = _Substrings.ROOT  # the longest end of the normalised reply that occurs in the prompt ...
        self._run_at: deque[int] = deque()  # ... and where each of its characters came from
        self._recent = ""  # the last characters of the normalised reply (at least _RECENT), for the canary ...
        self._recent_at: deque[int] = deque(maxlen=_RECENT)
        self._released_run = ""  # the end of what was released, if a base64-like run that may go on
        self.leaked = False

    def _step(self, key: str, at: int) -> bool:
        """Takes one character of the normalised reply; True when the reply now leaks."""
        if self._prompt is not None:
            self._run, length = self._prompt.extend(self._run, len(self._run_at), key)
            self._run_at.append(at)
            while len(self._run_at) > length:
                self._run_at.popleft()
            if length >= self._min_run:
                return True
        self._recent += key
        if len(self._recent) > 4 * _RECENT:
            self._recent = self._recent[-_RECENT:]
        self._recent_at.append(at)
        return key in self._target_ends and any(self._recent.endswith(t) for t in self._targets)

    def _decoded_reveal(self, text: str) -> bool:
        for run in _BASE64_RUN.findall(text):
            raw = None
            whole = run.rstrip("=")[: len(run.rstrip("=")) // 4 * 4]  # a run still growing decodes as far as it goes
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    raw = decode(whole)
                    break
                except (binascii.Error, ValueError):
                    continue
            if raw:
                keys = normalised(raw.decode("utf-8", "ignore"))
                if any(t in keys for t in self._targets) or (
                        self._prompt is not None and self._prompt.longest_shared_run(keys) >= self._min_run):
                    return True
        return False

    def feed(self, text: str) -> str:
        """The text safe to release now ('' once a leak is seen; `leaked` is then set)."""
        if self.leaked:
            return ""
        base = self._offset + len(self._pending)
        self._pending += text
        keys, where = _keys(text)
        if any(self._step(key, base + i) for key, i in zip(keys, where)) or self._decoded_reveal(self._released_run + self._pending):
            self.leaked = True
            self._pending = ""
            return ""
        end = self._offset + len(self._pending)
        hold = self._run_at[0] if self._run_at else end
        # The start of the canary (or of a variant of it) at the end.
        for target in self._targets:
            for size in range(min(len(target) - 1, len(self._recent)), 0, -1):
                if self._recent.endswith(target[:size]):
                    hold = min(hold, self._recent_at[-size])
                    break
        # A base64-like run still growing is held while its decoded head could still be the
        # prompt's (which starts with the canary); a long one has shown what it is.
        # (A short one is released, its first word out at once, and remembered.)
        tail = _trailing_run(self._pending)
        if 8 <= len(self._released_run) + tail < _HOLD_RUN_LIMIT:
            hold = min(hold, end - tail)
        hold = max(hold, end - HOLD_LIMIT, self._offset)
        cut = hold - self._offset
        out, self._pending = self._pending[:cut], self._pending[cut:]
        self._offset = hold
        if out:
            released = _trailing_run(out)
            if released == 0:
                self._released_run = ""
            elif released == len(out):
                self._released_run = (self._released_run + out)[-_HOLD_RUN_LIMIT:]
            else:
                self._released_run = out[-released:]
        return out

    def flush(self) -> str:
        """At the end of the stream: whatever was held, if it does not complete a leak."""
        held, self._pending = self._pending, ""
        if self.leaked or not held:
            return ""
        if self._decoded_reveal(self._released_run + held):
            self.leaked = True
            return ""
        return held


def _trailing_run(text: str) -> int:
    """How many characters at the end of `text` could belong to a base64 run (scanned back at
    most `_HOLD_RUN_LIMIT`: a regex search for it is quadratic on a long run)."""
    n = 0
    for ch in reversed(text[-_HOLD_RUN_LIMIT:]):
        if ch not in _RUN_CHARS:
            break
        n += 1
    return n


class _Substrings:
    """Every substring of one text, as a suffix automaton: reading another text a character at a
    time, it tells the longest end of what was read that occurs in the text, in constant time per
    character (amortised), however long the text. (Asking `run in text` after each character
    instead costs a scan of the text each time: seconds for a tool call's 100 kB of arguments
    against a 16k-character prompt.) Built once per prompt and kept (`of`)."""

    ROOT = 0

    def __init__(self, text: str) -> None:
        self._next: list[dict[str, int]] = [{}]
        self._link = [-1]
        self._length = [0]
        last = self.ROOT
        for ch in text:
            last = self._add(last, ch)

    @staticmethod
    @lru_cache(maxsize=4)  # a turn builds one (its canary makes its prompt unique), read by a few guards
    def of(text: str) -> _Substrings:
        return _Substrings(text)

    def _state(self, length: int, link: int, edges: dict[str, int]) -> int:
        self._next.append(edges)
        self._link.append(link)
        self._length.append(length)
        return len(self._length) - 1

    def _add(self, last: int, ch: str) -> int:
        nxt, link, length = self._next, self._link, self._length
        current = self._state(length[last] + 1, -1, {})
        state = last
        while state != -1 and ch not in nxt[state]:
            nxt[state][ch] = current
            state = link[state]
        if state == -1:
            link[current] = self.ROOT
            return current
        after = nxt[state][ch]
        if length[state] + 1 == length[after]:
            link[current] = after
            return current
        clone = self._state(length[state] + 1, link[after], dict(nxt[after]))
        while state != -1 and nxt[state].get(ch) == after:
            nxt[state][ch] = clone
            state = link[state]
        link[after] = link[current] = clone
        return current

    def extend(self, state: int, length: int, ch: str) -> tuple[int, int]:
        """After a run of `length` characters that occurs in the text (ending in `state`), the
        state and length of the longest end of that run plus `ch` that occurs in it."""
        nxt, link = self._next, self._link
        while state != self.ROOT and ch not in nxt[state]:
            state = link[state]
            length = self._length[state]
        if ch in nxt[state]:
            return nxt[state][ch], length + 1
        return self.ROOT, 0

    def longest_shared_run(self, keys: str) -> int:
        """The length of the longest substring of `keys` that occurs in the text."""
        state, length, longest = self.ROOT, 0, 0
        for ch in keys:
            state, length = self.extend(state, length, ch)
            longest = max(longest, length)
        return longest
