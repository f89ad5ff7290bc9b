"""PII and secrets never leave unredacted, whole or streamed in pieces cut anywhere; ordinary
text passes unchanged, and the first word is not held back."""

import itertools

import pytest

from chatbot_common.guardrails.redaction import Redactor, StreamRedactor, iban_ok, luhn_ok

VECTORS = {
    "EMAIL": ["jane.doe+test@example.co.uk", "j_smith@mail.acme-corp.com"],
    "PHONE": ["+1 415 555 0132", "(030) 1234 5678", "+44 20 7946 0958", "415-555-0132"],
    "CARD": ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
    "IBAN": ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
    "SSN": ["123-45-6789"],
    "SECRET": ["sk-proj-abcdefghijklmnopqrstuvwx1234", "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1B2c3D4e5" * 4],
}
CLEAN = "The meeting moved to room 4 on floor 12 at 10:30, and 3 of 7 people confirmed."


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")


@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, vs in VECTORS.items() for v in vs])
def test_whole_text_is_redacted(kind, value):
    out, found = Redactor().redact(f"Contact: {value}. Thanks!")
    assert value not in out and f"[{kind} REDACTED]" in out and found[kind] == 1


def test_invalid_numbers_and_ordinary_text_pass():
    for text in (CLEAN, "Order 4111 1111 1111 1112 is not a card (Luhn fails).", "Version 1.2.3 shipped in 2024."):
        assert Redactor().redact(text)[0] == text


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


def test_first_plain_word_is_released_at_once_and_plain_words_follow_promptly():
    stream = StreamRedactor(Redactor())
    assert stream.feed("Hello") == "Hello"
    assert stream.feed(" there") == " "
    assert stream.feed(" friend") == "there "


def test_markdown_images_and_data_links_to_other_hosts_are_neutralised():
    redactor = Redactor(link_allowlist=["docs.example.com"])
    text = ("![chart](https://evil.example.net/x.png?d=secret) ![ok](https://docs.example.com/a.png) "
            "[report](https://evil.example.net/r?q=data) [home](https://elsewhere.org/) [doc](https://sub.docs.example.com/p?x=1)")
    out, found = redactor.redact(text)
    assert "evil.example.net" not in out and found == {"IMAGE": 1, "LINK": 1}
    assert "https://docs.example.com/a.png" in out and "https://elsewhere.org/" in out and "sub.docs.example.com" in out
    stream = StreamRedactor(redactor)
    streamed = "".join(stream.feed(text[k:k + 4]) for k in range(0, len(text), 4)) + stream.flush()
    assert streamed == out


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
    number, an IBAN followed by more digits."""
    text = "input: +49 30 901820 77 4242 4242 4242 4242 GB82WEST12345698765432 219-09-9999 end"
    out, found = Redactor().redact(text)
    assert out == "input: [PHONE REDACTED] [CARD REDACTED] [IBAN REDACTED] [SSN REDACTED] end", out
    assert found == {"PHONE": 1, "CARD": 1, "IBAN": 1, "SSN": 1}
