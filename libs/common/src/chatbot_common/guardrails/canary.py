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
import re
import secrets
import string
import unicodedata

MIN_RUN = 40  # alphanumeric characters of the prompt, in order: about eight words
LEAK_STOPPED = "the reply was stopped: it disclosed protected instructions"


def new_canary() -> str:
    """`cnry-` and 20 random lowercase letters (94 bits). Letters only: the output redactor
    never rewrites it, and a digit run could pass the card/phone checks."""
    return "cnry-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(20))


def guarded_system_prompt(system_prompt: str, canary: str) -> str:
    return f"{canary}\n{system_prompt}"


_QUOTED = re.compile(r"\"[^\"\n]{1,300}\"|“[^”\n]{1,300}”|(?<!\w)'[^'\n]{1,300}'(?!\w)")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_TRAILING_RUN = re.compile(r"[A-Za-z0-9+/_=-]+$")
_HOLD_RUN_LIMIT = 256


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
    def __init__(self, canary: str, protected: str = "", min_run: int = MIN_RUN) -> None:
        body = normalised(canary.removeprefix("cnry-"))
        self._targets = tuple({normalised(canary), body, codecs.encode(body, "rot13"), body[::-1]})
        self._protected = normalised(_QUOTED.sub(" ", protected))
        self._min_run = min_run
        self._pending = ""
        self._released_run = ""  # the end of what was released, if a base64-like run that may go on
        self.leaked = False

    def _matched_run(self, keys: str) -> tuple[int, int]:
        """(longest run of the protected text found anywhere in `keys`, start of the run that
        `keys` ends with)."""
        if not self._protected:
            return 0, len(keys)
        longest = 0
        start = 0  # keys[start:i] is the longest suffix so far that occurs in the prompt
        for i in range(1, len(keys) + 1):
            while start < i and keys[start:i] not in self._protected:
                start += 1
            longest = max(longest, i - start)
        return longest, start

    def _reveals(self, keys: str) -> bool:
        return any(t in keys for t in self._targets) or self._matched_run(keys)[0] >= self._min_run

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
            if raw and self._reveals(normalised(raw.decode("utf-8", "ignore"))):
                return True
        return False

    def feed(self, text: str) -> str:
        """The text safe to release now ('' once a leak is seen; `leaked` is then set)."""
        if self.leaked:
            return ""
        pending = self._pending + text
        keys, where = _keys(pending)
        longest, run_start = self._matched_run(keys)
        if longest >= self._min_run or any(t in keys for t in self._targets) or self._decoded_reveal(self._released_run + pending):
            self.leaked = True
            self._pending = ""
            return ""
        hold = where[run_start] if run_start < len(keys) else len(pending)
        # The start of the canary (or of a variant of it) at the end.
        for target in self._targets:
            for size in range(min(len(target) - 1, len(keys)), 0, -1):
                if keys.endswith(target[:size]):
                    hold = min(hold, where[len(keys) - size])
                    break
        # A base64-like run still growing is held while its decoded head could still be the
        # prompt's (which starts with the canary); a long one has shown what it is.
        # (A short one is released, its first word out at once, and remembered.)
        if (tail := _TRAILING_RUN.search(pending)) and 8 <= len(self._released_run) + len(tail.group(0)) < _HOLD_RUN_LIMIT:
            hold = min(hold, tail.start())
        out, self._pending = pending[:hold], pending[hold:]
        if out:
            run = _TRAILING_RUN.search(out)
            if run is None:
                self._released_run = ""
            elif run.start() == 0:
                self._released_run = (self._released_run + out)[-_HOLD_RUN_LIMIT:]
            else:
                self._released_run = run.group(0)
        return out

    def flush(self) -> str:
        """At the end of the stream: whatever was held, if it does not complete a leak."""
        held, self._pending = self._pending, ""
        if self.leaked or not held:
            return ""
        keys = normalised(held)
        if self._reveals(keys) or self._decoded_reveal(self._released_run + held):
            self.leaked = True
            return ""
        return held
