"""The output filter reads values the way the answer's reader will: a value written with character
references, Markdown or JSON escapes, percent escapes, compatibility forms, invisible characters
or emphasis markers inside it is taken out, whole or streamed in pieces cut anywhere, and the text
around it is left exactly as written.

The oracle is independent of the filter's own decoder: the answer is rendered by markdown-it (as
the web app renders it: raw HTML shown as text) and the visible text taken from its HTML, and a
JSON-mode answer is decoded by `json.loads`."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from chatbot_common.guardrails.reading import read
from chatbot_common.guardrails.redaction import RULES, Redactor, StreamRedactor, _card_ok

_MD = MarkdownIt("commonmark", {"html": False})
_TAG = re.compile(r"<[^>]*>")
EMAIL = "alice@example.com"
CARD = "4111111111111111"


def _math_as_drawn(answer: str) -> str:
    """KaTeX's drawing of math (`$...$`, `$$...$$`, a `math` fence), as far as letters and digits
    go: `\\text{..}` and braces leave their content, spacing commands (with their size) are
    spaces, `\\char` draws its character, a `\\def` macro its body, math mode drops its spaces."""
    def draw(m: re.Match) -> str:
        tex = m.group(1) or m.group(2)
        for name, body in re.findall(r"\\def\\([A-Za-z]+)\{([^{}]*)\}", tex):
            tex = tex.replace("\\def\\" + name + "{" + body + "}", "").replace("\\" + name, body)
        tex = re.sub(r'\\char"([0-9A-Fa-f]+)', lambda c: chr(int(c.group(1), 16)), tex)
        tex = re.sub(r"\\hspace\{[^}]*\}|\\[,;: ]", "\x00", tex)
        tex = re.sub(r"\\[A-Za-z]+|[{}\s]", "", tex)
        return tex.replace("\x00", " ")
    return re.sub(r"```math\n([\s\S]*?)\n```|\$\$?([^$]+)\$\$?", draw, answer)


def shown(answer: str) -> str:
    """What a person sees of a Markdown answer: math drawn, rendered, tags dropped, references
    decoded, in compatibility form, without invisible characters, other scripts' digits and
    dashes read as such, whitespace runs as one space."""
    visible = html.unescape(_TAG.sub("", _MD.render(_math_as_drawn(answer))))
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", visible)
                      if unicodedata.category(ch) != "Cf" and not _IGNORABLE.match(ch))
    visible = "".join(str(unicodedata.decimal(ch)) if not ch.isascii() and unicodedata.decimal(ch, None) is not None
                      else "-" if unicodedata.category(ch) == "Pd" else ch for ch in visible)
    return re.sub(r"\s+", " ", visible)


# Default-ignorable code points outside Cf that a page does not show (DerivedCoreProperties.txt).
_IGNORABLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")
SECRET = "sk-proj-abcdefghijklmnopqrstuvwx"


def leaks(answer: str) -> list[str]:
    """The values a reader sees: on the page, or on the page after a JSON reader decoded it."""
    return sorted(set(_leaks(answer)) | set(_leaks(re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), answer))))


def _leaks(answer: str) -> list[str]:
    seen = shown(answer)
    out = [v for v in (EMAIL, SECRET) if v in seen]
    if CARD in re.sub(r"[ -]", "", seen):
        out.append(CARD)
    if "PRIVATE KEY" in seen and "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" in seen:
        out.append("PRIVATE KEY")
    return out


# Each way of writing the address that a reader turns back into it.
EMAIL_FORMS = {
    "decimal reference": "alice&#64;example.com",
    "hex reference": "alice&#x40;example&#x2E;com",
    "named reference": "alice&commat;example&period;com",
    "backslash escape": "alice\\@example\\.com",
    "emphasis around the name": "**alice**@example.com",
    "emphasis inside the domain": "alice@*example*.com",
    "code span": "alice@`example.com`",
    "zero width space": "al\u200bice@exa\u200bmple.com",
    "soft hyphen": "alice@exam\u00adple.com",
    "fullwidth at sign": "alice\uff20example.com",
    "fullwidth letters": "\uff41\uff4c\uff49\uff43\uff45@example.com",
    # found by an attack over HTTP on the first version of the reading (helper-57):
    "empty link between the halves": "alice[](#)@example.com",
    "empty image between the halves": "alice![](#)@example.com",
    "empty link with an empty destination": "alice[](<>)@example.com",
    "link text as half of it": "[alice@example](#).com",
    "math text": "$\\text{alice}@\\text{example}.\\text{com}$",
    "mongolian variation selector": "alice@exa\u180bmple.com",
    "hangul filler": "alice@exa\u3164mple.com",
    # found by a second attack (helper-58): link syntax the first pattern missed, and math
    "nested brackets in the destination": "alice[](a(b(c)))@example.com",
    "escaped bracket in the destination": "alice[](\\))@example.com",
    "space before the destination": "alice[]( #)@example.com",
    "title over two lines": 'alice[](# "t\nu")@example.com',
    "parenthesised title": "alice[](# (t))@example.com",
    "math \\char": '$\\text{alice}\\char"40\\text{example.com}$',
    "math macro": "$\\def\\x{@}\\text{alice}\\x\\text{example.com}$",
    "math fence": "\n```math\n\\text{alice}@\\text{example}.\\text{com}\n```\n",
    "inline math over a line break": "$\\text{alice}@\n\\text{example}.\\text{com}$",
}
CARD_FORMS = {
    "no-break spaces": "4111\u00a01111\u00a01111\u00a01111",
    "space references": "4111&#32;1111&#32;1111&#32;1111",
    "nbsp references": "4111&nbsp;1111&nbsp;1111&nbsp;1111",
    "fullwidth digits": "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11",
    "emphasis between groups": "4111*1111*1111 1111",
    "zero width joiners": "4111\u200d1111\u200d1111\u200d1111",
    "ideographic spaces": "4111\u30001111\u30001111\u30001111",
    "underscore emphasis": "4111 _1111_ 1111 1111",
    "strong underscores": "4111 __1111__ 1111 1111",
    "math thin spaces": "$4111\\,1111\\,1111\\,1111$",
    "math spacing with a size": "$4111\\hspace{1pt}1111\\hspace{1pt}1111\\hspace{1pt}1111$",
    "arabic-indic digits": "\u0664\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661",
    "en dashes": "4111\u20131111\u20131111\u20131111",
    "non-breaking hyphens": "4111\u20111111\u20111111\u20111111",
    "a reference inside a json escape": "4111 1\\u0026#49;11 1111 1111",
}
SECRET_FORMS = {
    "empty link inside a key": "sk-proj-abc[](#)defghijklmnopqrstuvwx",
    "math text key": "$\\text{sk-}\\text{proj-abcdefghijklmnopqrstuvwx}$",
    "private key with underscore emphasis": ("-----BEGIN PRIVATE _KEY_-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n"
                                              "-----END PRIVATE _KEY_-----"),
}
BEFORE, AFTER = "Contact: ", " \u2014 thanks, and \\*this\\* stays & so does 50% of `x`."


def test_the_oracle_sees_every_form():
    for form in (*EMAIL_FORMS.values(), *CARD_FORMS.values(), *SECRET_FORMS.values()):
        assert leaks(BEFORE + form + AFTER), form


FORMS = {**EMAIL_FORMS, **CARD_FORMS, **SECRET_FORMS}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_is_taken_out_and_the_rest_left_as_written(form):
    out, found = Redactor().redact(BEFORE + form + AFTER)
    assert leaks(out) == [], out
    assert out.startswith(BEFORE) and out.endswith(AFTER), out
    assert found


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_streamed_in_two_or_three_pieces_never_leaks(form):
    text = BEFORE + form + AFTER
    for i in range(1, len(text)):
        for j in (*range(i + 1, len(text), 3), len(text)):
            stream = StreamRedactor(Redactor())
            out = stream.feed(text[:i]) + stream.feed(text[i:j]) + stream.feed(text[j:]) + stream.flush()
            assert leaks(out) == [], (i, j, out)


def test_a_json_answer_with_escaped_values_is_filtered_and_stays_json():
    answer = json.dumps({"email": EMAIL, "card": "4111 1111 1111 1111", "note": 'a "quoted" \\ word'})
    answer = answer.replace("@", "\\u0040").replace(" 1111", "\\u00201111")
    assert json.loads(answer)["email"] == EMAIL  # what every JSON reader makes of it
    for out in (Redactor().redact(answer)[0], _streamed(answer, 5)):
        decoded = json.loads(out)
        assert decoded == {"email": "[EMAIL REDACTED]", "card": "[CARD REDACTED]", "note": 'a "quoted" \\ word'}, out


def test_an_escaped_surrogate_pair_and_an_escaped_escape():
    answer = '{"e": "\\ud83d\\ude00 alice\\u0040example.com", "f": "C:\\\\users"}'
    out = Redactor().redact(answer)[0]
    assert json.loads(out) == {"e": "\U0001f600 [EMAIL REDACTED]", "f": "C:\\users"}, out


def test_an_escape_cut_between_pieces_is_held_until_it_is_whole():
    text = "write to alice\\u0040example.com today"
    for i in range(1, len(text)):
        stream = StreamRedactor(Redactor())
        first = stream.feed(text[:i])
        assert "\\u00" not in first or first.endswith("today"), (i, first)
        out = first + stream.feed(text[i:]) + stream.flush()
        assert out == "write to [EMAIL REDACTED] today", (i, out)


BENIGN = [
    "Use \\*literal stars\\* and a &amp; b; 50% off; **bold** and `code` and ~~gone~~.",
    "Grüße aus Köln, 你好，世界。フルワイドの句読点：「はい」！",
    "A path C:\\\\temp\\\\new and a regex \\d+\\.\\w+ and JSON {\"a\": \"\\u00e9t\\u00e9\"}.",
    "Prices: 3 \u00d7 4 = 12, 100\u00a0km, 5\u202f%, \u2460 first, \u00bd cup.",
    "A doc id doc_0123456789abcdef0123456789abcdef and &#42;stars&#42; and a \\`tick\\`.",
    "The plan costs $20/month or $200 a year; see [the plan](/plans) and a\\x40b, bob\\u{40}b.",
    "Math: $\\frac{a}{b} + \\sqrt{2}$ and $$E = mc^2$$; snake_case_name and __init__ and _private.",
    "计算：$\\frac{1}{415} \\cdot \\frac{555}{2671}$ 完成, and $\\sum_{i=1}^{415} 555 \\cdot 2671$.",
]


@pytest.mark.parametrize("text", BENIGN)
def test_text_without_values_is_left_byte_for_byte(text):
    assert Redactor().redact(text) == (text, Redactor().redact("")[1])
    assert _streamed(text, 1) == text and _streamed(text, 7) == text


def _streamed(text: str, size: int) -> str:
    stream = StreamRedactor(Redactor())
    return "".join(stream.feed(text[k:k + size]) for k in range(0, len(text), size)) + stream.flush()


def test_the_reading_maps_every_character_back_to_what_was_written():
    text = "x&#64;y \\@ \\u0040 \uff20 a\u200bb **c**"
    reading = read(text)
    assert reading is not None and reading.text == "x@y @ @ @ ab c"
    assert [text[slice(*reading.span(i, i + 1))] for i in range(len(reading.text))] == [
        "x", "&#64;", "y", " ", "\\@", " ", "\\u0040", " ", "\uff20", " ", "a", "b", " ", "c"]
    assert read("plain ascii text") is None and read("Grüße") is None


# Each character of the address written in one of the ways a reader decodes, with invisible
# characters and emphasis markers between them: the property holds for any mix, cut anywhere.
def _written(ch: str) -> st.SearchStrategy[str]:
    forms = [st.just(ch), st.just(f"&#{ord(ch)};"), st.just(f"&#x{ord(ch):x};"), st.just(f"\\u{ord(ch):04x}"),
             st.just(chr(ord(ch) + 0xFEE0))]
    if not ch.isalnum():
        forms.append(st.just("\\" + ch))
    return st.one_of(forms)


_noise = st.sampled_from(["", "", "", "\u200b", "\u00ad", "\u2060", "\ufeff"])


@st.composite
def _obfuscated_email(draw) -> tuple[str, bool]:
    parts = []
    for ch in EMAIL:
        parts.append(draw(_written(ch)) + draw(_noise))
    return "".join(parts), any("\\u" in p for p in parts)


def json_then_markdown(answer: str) -> str:
    """A JSON-mode answer's string, decoded by a JSON reader and then rendered as Markdown."""
    return shown(re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), answer))


def test_the_property_oracle_reads_every_form():
    for ch in EMAIL:
        for written in (f"&#{ord(ch)};", f"&#x{ord(ch):x};", f"\\u{ord(ch):04x}", chr(ord(ch) + 0xFEE0)):
            assert EMAIL in json_then_markdown(EMAIL.replace(ch, written + "\u200b")), written


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_obfuscated_email(), st.lists(st.integers(min_value=1, max_value=400), max_size=4))
def test_property_no_mix_of_forms_gets_the_address_out(email, cuts):
    written, _ = email
    text = f"Mail {written} now."
    assert EMAIL in json_then_markdown(text)
    stream = StreamRedactor(Redactor())
    pieces, last = [], 0
    for cut in sorted(set(c % (len(text) + 1) for c in cuts)) + [len(text)]:
        pieces.append(stream.feed(text[last:cut]))
        last = cut
    out = "".join(pieces) + stream.flush()
    whole = Redactor().redact(text)[0]
    for answer in (out, whole):
        assert EMAIL not in json_then_markdown(answer), (text, answer)
        assert answer.startswith("Mail ") and answer.endswith(" now."), answer


def test_a_link_destination_is_still_looked_at_as_written():
    out = Redactor().redact("Write [to her](mailto:alice@example.com) or [me](#).")[0]
    assert EMAIL not in out and "to her" in out and "[me](#)" in out, out


class _Looks(StreamRedactor):
    looks = 0
    looked_at = 0

    def _hold_from(self, text: str, **kinds) -> int:
        self.looks += 1
        self.looked_at += len(text)
        return super()._hold_from(text, **kinds)


@pytest.mark.parametrize("unit", ["\uff11 ", "1 ", "a&#64;", "a\u200b", "\u7f51\u5173\uff0c"])
def test_a_long_hold_is_read_again_a_bounded_number_of_times(unit):
    """A run that never lets go (fullwidth digits, an escaped word, Chinese without spaces) is
    read and scanned again as it grows by a quarter, not every 128 characters: all the looks
    together cover a few times its length (every 128 characters, 20 kB of `１ ` held the
    orchestrator's event loop for seconds; the scans summed to about 80 times its length, 160
    with the second look)."""
    held = unit * (20000 // len(unit))
    stream = _Looks(Redactor())
    for k in range(0, len(held), 4):
        stream.feed(held[k:k + 4])
    stream.flush()
    # (a text that reads otherwise is looked at twice each time: for values as read, for links as written)
    assert stream.looked_at < 16 * len(held), (stream.looks, stream.looked_at)


def test_a_failed_digit_run_tries_each_start_once():
    """A greedy match that fails its check is tried for a valid value at its start only; the
    search goes on from its next group. Trying every sub-run of every match (up to 19 groups:
    190 checks per match) cost about 26 s per 100 kB of `1 1 1 …`."""
    calls = 0

    def counted(value: str) -> bool:
        nonlocal calls
        calls += 1
        return _card_ok(value)

    card = next(rule for rule in RULES if rule.name == "CARD")
    redactor = Redactor(rules=(dataclasses.replace(card, valid=counted),), links=False)
    text = "1 " * 2000 + "4111 1111 1111 1111 done"
    out = redactor.redact(text)[0]
    assert out.endswith("[CARD REDACTED] done"), out[-60:]
    assert calls < 20 * 2000, calls


def test_chinese_streams_as_it_comes_and_a_value_inside_it_is_still_held():
    """Chinese has no spaces: the whole paragraph was held as one unfinished word, so Chinese
    answers came out paragraph by paragraph instead of streaming."""
    stream = StreamRedactor(Redactor())
    assert stream.feed("网关是无状态的，") == "网关是无状态的"  # the comma reads as `,`: held a moment
    assert stream.feed("可以运行多个副本") == "，可以运行多个副本"
    out = stream.feed("。邮箱alice") + stream.feed("@example.com，谢谢") + stream.flush()
    assert out == "。邮箱[EMAIL REDACTED]，谢谢", out


def test_a_shortcut_reference_link_inside_a_key():
    answer = "Key [sk-proj-abcdefgh]ijklmnopqrstuvwx.\n\n[sk-proj-abcdefgh]: #"
    assert SECRET in shown(answer)  # the page shows the link's text joined to the rest
    assert SECRET not in shown(Redactor().redact(answer)[0])
    assert SECRET not in shown(_streamed(answer, 3))


def test_a_value_the_reading_joins_to_what_follows_is_still_held_as_written():
    """`2671**x` reads `2671x`, no longer a phone number: the stream held on the reading alone
    let `+1 415 555 ` out before the rest came (review of c6b2786)."""
    for marker in ("**", "`", "\u200b"):
        stream = StreamRedactor(Redactor())
        out = stream.feed("Call +1 415 555 2671" + marker) + stream.feed("x") + stream.flush()
        assert "415" not in out and "[PHONE REDACTED]" in out, (marker, out)


def test_redacting_twice_changes_nothing():
    once = Redactor().redact("x alice@example.comalice@example.com y, and alice&#64;example.com")[0]
    assert Redactor().redact(once)[0] == once, once
    assert Redactor().redact("Mail [EMAIL REDACTED]@example.com")[0] == "Mail [EMAIL REDACTED]@example.com"



def test_a_card_after_a_dot_is_held_from_its_first_group():
    """The tail-number hold must start at the card's first group even after `.`: `No.4111 ` went
    out alone while the hold started only after a character outside the run (a space)."""
    text = "No.4111 1111 1111 1111 ok"
    for i in range(1, len(text)):
        stream = StreamRedactor(Redactor())
        out = stream.feed(text[:i]) + stream.feed(text[i:]) + stream.flush()
        assert "4111" not in out and "1111" not in out, (i, out)
