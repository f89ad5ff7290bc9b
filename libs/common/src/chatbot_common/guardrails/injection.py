"""Prompt-injection detection for text a model will read: what users type and what retrieval
brings back from documents.

The text is first made honest: invisible characters (zero-width, bidirectional controls, soft
hyphens) are removed, Unicode tag characters (U+E0000-E007F, invisible ASCII look-alikes used to
smuggle instructions) are decoded and scanned separately, and compatibility forms (full-width
letters, ligatures) are folded by NFKC. The folded text, every base64 run in it that decodes to
readable text, its rot13 form and letters spaced out one by one are then matched against the
families of attack:

- instruction_override: "ignore / disregard / forget ... previous instructions", "new instructions:"
- role_hijack: "you are now DAN", "developer mode", "act as an AI without restrictions"
- prompt_extraction: "reveal / repeat / print your system prompt", "what are your instructions"
- delimiter_injection: chat-template tokens (<|im_start|>, [INST], <<SYS>>, <|start_header_id|>),
  forged role headers ("### System:") and this platform's own <source> delimiters
- encoded_payload: any of the above found only after decoding (base64, rot13, tag characters)

Two scored detectors (`scoring.py`) add what phrase patterns miss: requests for the assistant's
own instructions however they are worded (prompt_extraction), and, in retrieved documents only,
orders addressed to the assistant (embedded_instruction: `say "X" first`, `IMPORTANT: reply with`).

A verdict lists the families found and the cleaned text (invisible characters removed), which is
what goes on to the model when the policy lets the text through."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass, field

import regex  # Unicode properties (\p{Cf}) that `re` lacks

from chatbot_common.guardrails.scoring import extraction_score, forbids_disclosure, instruction_score

# Characters that render as nothing: every format character (Unicode category Cf: zero-width
# spaces and joiners, bidirectional controls, soft hyphens, ...) and the variation selectors
# (U+FE00-FE0F and the supplement U+E0100-E01EF), which attach to any letter, so "sys\U000E0100tem"
# reads as "system" and must be screened as such. Tag characters are decoded first.
_INVISIBLE = regex.compile(r"[\p{Cf}\p{Variation_Selector}\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-_*]){2,}[a-z](?![a-z])")

_W = r"[\s\W_]*+"  # what may sit between words: spaces, punctuation
# Possessive runs, and words without "_" (the separators have it): overlapping or adjacent
# runs of the same class backtrack quadratically or worse on a long run of punctuation.
_ANY = r"(?:[\s\W_]++[^\W_]++){0,4}?[\s\W_]++"  # up to four filler words ("all of the", "your earlier")

_PATTERNS: dict[str, list[str]] = {
    "instruction_override": [
        rf"\b(?:ignore|disregard|forget|override|bypass|abandon|neglect|set aside){_ANY}(?:previous|prior|above|earlier|preceding|former|original|initial|system|all|any|your|the|these|those)?{_W}(?:instructions?|rules|directions|directives|guidelines|guardrails|prompts?|constraints|restrictions|programming|policies|commands)\b",
        r"\b(?:new|updated|revised|real|actual|override)\s+(?:instructions|rules|system prompt|directives)\s*[:\-]",
        r"\bfrom now on,?\s+(?:you|your|ignore|respond|answer|act|only)\b",
        r"\b(?:do not|don't|never|stop|quit)\s+(?:follow(?:ing)?|obey(?:ing)?|comply(?:ing)? with|listen(?:ing)? to)\s+(?:your|the|any|those|these)\s+(?:previous\s+|prior\s+|original\s+)?(?:instructions|rules|guidelines|programming|policies)\b",
        r"\binstead,?\s+(?:follow|obey|do)\s+(?:these|my|the following)\s+(?:instructions|orders|commands)\b",
        r"\bignora\w*\s+(?:todas?\s+)?(?:las\s+|les\s+|le\s+)?(?:instrucciones|instructions|istruzioni)\b",
        r"\bignorier\w*\s+(?:alle\s+)?(?:vorherigen\s+|bisherigen\s+)?anweisungen\b",
        r"\boubliez?\s+(?:toutes\s+)?(?:les\s+|vos\s+)?instructions\b",
    ],
    "role_hijack": [
        r"\byou\s+are\s+now\s+(?:a|an|the|my|in|going to|called|named|free|dan|unrestricted|unfiltered|evil|no longer)\b",
        r"\byou\s+are\s+no\s+longer\s+(?:an?\s+)?(?:ai|assistant|bound|restricted|limited|chatbot|language model)\b",
        r"\b(?:dan|do anything now|stan|dude|aim)\s+(?:mode|prompt|jailbreak)\b|\bdo anything now\b",
        r"\b(?:god|jailbreak|unrestricted|unfiltered|sudo|evil|dan)\s+mode\b|\b(?:enable|enter|activate|switch(?:ed)?\s+(?:to|into)|turn on|(?:you are|you're)\s+(?:now\s+)?in|now in)\s+(?:the\s+)?(?:developer|admin|root|debug|maintenance)\s+mode\b"
        r"|\b(?:developer|admin|root|debug|maintenance)\s+mode\s*(?:on|enabled|activated|engaged)\b",
        r"\bjailbr(?:eak|oken)\b",
        r"\b(?:act|behave|respond|answer)\s+as\s+(?:if\s+you\s+(?:were|are)\s+)?(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil|rogue|different|new)\b",
        r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you)\b.{0,60}\b(?:no|without|free of|any)\s+(?:restrictions|rules|limits|filters|guidelines)\b",
        r"\b(?:without|no|free from|free of|ignore (?:all |any )?(?:your )?)(?:any\s+)?(?:ethical\s+|moral\s+|content\s+|safety\s+)?(?:restrictions|filters|limitations|censorship|guidelines)\b.{0,40}\b(?:respond|answer|reply|act)\b",
        r"\bswitch\s+(?:to|into)\s+(?:a\s+)?(?:new\s+)?(?:persona|personality|character|role)\b",
        r"\byour\s+new\s+(?:role|persona|identity|name)\s+is\b",
    ],
    "prompt_extraction": [
        rf"\b(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|write|recite|list|expose|share|spell out|echo|return|paste|translate|summari[sz]e|encode){_ANY}(?:your|the|my|its|all|any)?{_W}(?:system|initial|hidden|original|secret|internal|developer|confidential|pre-?prompt)[\s\-]+(?:prompts?|instructions|rules|directives|configuration|guidelines)\b",
        r"\bwhat\s+(?:are|were|is)\s+your\s+(?:system\s+|initial\s+|original\s+|hidden\s+|exact\s+)?(?:instructions|rules|system prompt|prompt|directives|guidelines)\b",
        r"\b(?:repeat|print|output|copy|echo)\s+(?:the\s+|all\s+(?:the\s+)?)?(?:words|text|everything|lines|content)\s+(?:above|before|preceding|prior)\b",
        r"\b(?:starting|beginning)\s+with\s+[\"'“]?(?:you are|system)\b",
        r"\bsystem\s+prompt\b.{0,40}\b(?:verbatim|word for word|in full|exactly|code block)\b",
    ],
    "delimiter_injection": [
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>",
        r"\[/?inst\]|<</?sys>>|</?s>\s*\[inst\]",
        r"(?:^|\n)[ \t]*+(?:#{2,}\s*(?:system|assistant|developer)\b|\[(?:system|assistant|developer)\]|(?:system|developer)\s+(?:message|prompt|instructions?)\s*:)",
        r"</\s*(?:source|sources|system|system_prompt|instructions)\s*>|<\s*source\s+n\s*=|<\s*(?:system|system_prompt|instructions)\s*>",
        r"\b(?:begin|end)\s+(?:of\s+)?(?:system|user)\s+(?:prompt|message|input|instructions)\b",
        r"(?<!-)-{3,}+\s*+(?:end|begin)\s+(?:of\s+)?(?:user|system|document|context)",
    ],
}
# Words at least one of which each pattern needs (in the folded text): a pattern whose words are all
# absent is not run. Each anchor is a literal the pattern itself requires (single words where the
# pattern allows any whitespace between words). Ordinary text lacks most of them, which makes screening a passage cheap.
_ANCHORS: dict[str, list[tuple[str, ...]]] = {
    "instruction_override": [
        ("ignor", "disregard", "forget", "override", "bypass", "abandon", "neglect", "set aside"),
        ("instructions", "rules", "system prompt", "directives"),
        ("from now on",),
        ("follow", "obey", "comply", "listen"),
        ("instead",),
        ("ignora",),
        ("ignorier",),
        ("oubli",),
    ],
    "role_hijack": [
        ("you",), ("longer",), ("dan", "do anything", "stan", "dude", "aim"), ("mode",), ("jailbr",),
        ("act", "behave", "respond", "answer"), ("pretend",), ("restrictions", "filters", "limitations", "censorship", "guidelines"),
        ("switch",), ("your",),
    ],
    "prompt_extraction": [
        ("system", "initial", "hidden", "original", "secret", "internal", "developer", "confidential", "prompt"),
        ("what",),
        ("above", "before", "preceding", "prior"),
        ("starting", "beginning"),
        ("prompt",),
    ],
    "delimiter_injection": [("<|",), ("inst]", "<<sys", "<</sys"), ("system", "assistant", "developer"), ("source", "system", "instructions"),
                            ("begin", "end"), ("---",)],
}
_COMPILED = {
    family: [(anchors, re.compile(p, re.IGNORECASE | re.DOTALL)) for anchors, p in zip(_ANCHORS[family], patterns, strict=True)]
    for family, patterns in _PATTERNS.items()
}


@dataclass(frozen=True)
class Verdict:
    categories: tuple[str, ...]
    cleaned: str
    evidence: tuple[str, ...] = field(default=(), repr=False)  # short excerpts that matched (for the audit log)
    stripped_invisible: int = 0

    @property
    def detected(self) -> bool:
        return bool(self.categories)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


_NEGATED = re.compile(r"\b(?:never|not|don't|do not|must not|mustn't|refuse to|no|can't|cannot|won't|will not|unable to)\b[^.!?\n]{0,30}$")


def _sentence_around(text: str, start: int, end: int) -> str:
    left = max(text.rfind(ch, 0, start) for ch in ".!?\n") + 1
    rights = [i for i in (text.find(ch, end) for ch in ".!?\n") if i >= 0]
    return text[left:min(rights) + 1 if rights else len(text)]


def _scan(text: str, kind: str = "message") -> tuple[set[str], list[str]]:
    found: set[str] = set()
    evidence: list[str] = []
    for family, patterns in _COMPILED.items():
        for anchors, pattern in patterns:
            if not any(anchor in text for anchor in anchors):
                continue
            match = pattern.search(text)
            # "never reveal your system prompt" is the rule, not the attack (system messages say it).
            if match and family == "prompt_extraction" and (
                    _NEGATED.search(text[max(0, match.start() - 40):match.start()] + match.group(0)[:12])
                    or forbids_disclosure(_sentence_around(text, match.start(), match.end()))):
                match = None
            if match:
                found.add(family)
                evidence.append(match.group(0)[:80])
                break
    if "prompt_extraction" not in found and kind != "instructions":
        scored = extraction_score(text)
        if scored.detected:
            found.add("prompt_extraction")
            evidence.append(scored.sentence[:80])
    if kind == "document":
        scored = instruction_score(text)
        if scored.detected:
            found.add("embedded_instruction")
            evidence.append(scored.sentence[:80])
    return found, evidence


def _decoded_candidates(folded: str, original: str, tags: list[str]) -> list[str]:
    out = list(tags)
    for run in _BASE64_RUN.findall(original):
        padded = run + "=" * (-len(run) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(padded.encode())
            except (binascii.Error, ValueError):
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if sum(ch.isprintable() or ch.isspace() for ch in text) >= 0.9 * len(text) and re.search(r"[a-zA-Z]{3}", text):
                out.append(_fold(text))
                break
    out.append(codecs.decode(folded, "rot13"))
    # "i g n o r e  a l l ...": letters spaced out one by one, words apart by more.
    collapsed = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), folded)
    if collapsed != folded:
        out.append(collapsed)
    return out


def detect(text: str, kind: str = "message") -> Verdict:
    """Scans `text`; `Verdict.cleaned` is the text with invisible characters removed.

    `kind="document"` is for retrieved text, which is data: there, orders addressed to the
    assistant (what to say, when, in which words) are an attack too (`embedded_instruction`),
    while a user's own message is meant to instruct. `kind="instructions"` is for text the
    caller writes in the assistant's own voice (a system prompt, a system, developer or replayed
    assistant message on /v1): the phrase families apply, but not the scored extraction
    detector, which would read "I was instructed to show prices in EUR" as a request for the
    prompt."""
    tags = ["".join(chr(ord(ch) - 0xE0000) for ch in run) for run in _TAGS.findall(text)]
    cleaned, stripped = _INVISIBLE.subn("", _TAGS.sub("", text))
    stripped += sum(len(t) for t in tags)
    folded = _fold(cleaned)
    found, evidence = _scan(folded, kind)
    hidden: set[str] = set()
    for candidate in _decoded_candidates(folded, cleaned, [_fold(t) for t in tags if t.strip()]):
        more, why = _scan(candidate, kind)
        if more - found:
            hidden |= more
            evidence += why
    if hidden:
        found |= hidden | {"encoded_payload"}
    return Verdict(tuple(sorted(found)), cleaned, tuple(evidence[:5]), stripped)
